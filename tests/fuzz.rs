//! Fuzzing of what the fleet reads from outside: bar files (`boltfleet ingest`) and job
//! payloads (every worker's queue). Seeded mutations of real inputs; none may panic, and what
//! is accepted must hold the invariants the rest of the fleet relies on.
//!
//! CI runs a short pass with a fixed seed. A long run by hand (docs/reliability.md):
//! `FUZZ_ITERATIONS=1000000 FUZZ_SEED=$RANDOM cargo nextest run --workspace --release -E 'binary(fuzz)'`.
//! An input that fails is saved under the target directory with the name to give it in
//! `tests/fuzz-regressions/{ingest,job}/`, where every later run tries it first.

use std::io::{BufRead, BufReader, Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use ml_core::ingest::{IngestOptions, ingest_file};
use ml_core::job::{Job, JobKind, Pair, Snapshot};
use tests::{Mutator, data_dir, fuzz_iterations, fuzz_seed};

/// The first lines of a data file (of its decompressed text for a `.gz`).
fn head(file: &str, lines: usize) -> Vec<u8> {
    let raw = std::fs::File::open(data_dir().join(file)).unwrap();
    let reader: Box<dyn Read> =
        if file.ends_with(".gz") { Box::new(flate2::read::GzDecoder::new(raw)) } else { Box::new(raw) };
    let mut text = Vec::new();
    for line in BufReader::new(reader).split(b'\n').take(lines) {
        text.extend(line.unwrap());
        text.push(b'\n');
    }
    text
}

/// Real bar files in every container the ingest reads, each with the extension it is read as.
fn ingest_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let googl = head("GOOGL-daily-2009-2018.csv", 60);
    let stocks = head("stocks-daily-2000-2013.csv.gz", 60);
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzipped.write_all(&stocks).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("GOOGL.csv");
    std::fs::write(&csv, &googl).unwrap();
    let bars = ingest_file(&csv, &IngestOptions::default()).unwrap().into_single().unwrap().bars;
    vec![
        (".csv", googl),
        (".csv", head("EURUSD-1h-2017.csv", 60)),
        (".csv", head("BTCUSD-1h-coinbase.csv", 60)),
        (".csv", stocks),
        (".csv.gz", gzipped.finish().unwrap()),
        (".parquet", ml_core::ingest::bars_to_parquet(&bars).unwrap()),
    ]
}

/// Inputs kept from earlier failures, tried before the mutations.
fn regressions(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-regressions").join(kind);
    // Git keeps no empty folder: no folder is no regression yet.
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut inputs: Vec<(String, Vec<u8>)> = entries
        .map(|entry| entry.unwrap().path())
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    inputs.sort();
    inputs
}

/// Saves a failing input where a developer finds it, and says what to do with it.
fn keep_failure(kind: &str, name: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures").join(kind);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    path
}

/// What every accepted series must be: what features, labels and snapshots assume.
fn check_series(bars: &[ml_core::Bar]) -> Result<(), String> {
    for (index, bar) in bars.iter().enumerate() {
        let prices = [bar.open, bar.high, bar.low, bar.close];
        let in_range =
            prices.iter().all(|p| p.is_finite() && *p > 0.0) && bar.volume.is_finite() && bar.volume >= 0.0;
        if !in_range {
            return Err(format!("bar {index} has a price or volume out of range: {bar:?}"));
        }
        if bar.low > bar.open.min(bar.close) || bar.high < bar.open.max(bar.close) {
            return Err(format!("bar {index} has its body outside high and low: {bar:?}"));
        }
        if index > 0 && bars[index - 1].ts >= bar.ts {
            return Err(format!("bar {index} is not after the one before it"));
        }
    }
    Ok(())
}

/// Ingests one input file; an error for a panic or an accepted series that breaks the invariants.
fn ingest_one(path: &Path, strict: bool) -> Result<(), String> {
    if path.extension().is_some_and(|extension| extension == "parquet") {
        // A Parquet file is also what a snapshot is: its decoder must hold too.
        let bytes = std::fs::read(path).unwrap();
        match std::panic::catch_unwind(|| ml_core::snapshot::decode(&bytes)) {
            Err(panic) => return Err(format!("the snapshot decoder panicked: {}", panic_message(&*panic))),
            Ok(Ok(bars)) => check_series(&bars)?,
            Ok(Err(_refused)) => {}
        }
    }
    let options = IngestOptions { strict, ..IngestOptions::default() };
    match std::panic::catch_unwind(AssertUnwindSafe(|| ingest_file(path, &options))) {
        Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
        Ok(Err(_refused)) => Ok(()),
        Ok(Ok(ingested)) => ingested.series.iter().try_for_each(|series| check_series(&series.bars)),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[test]
fn bar_files_never_panic_the_ingest_and_what_it_accepts_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    for (name, input) in regressions("ingest") {
        let path = dir.path().join(&name);
        std::fs::write(&path, &input).unwrap();
        for strict in [false, true] {
            ingest_one(&path, strict).unwrap_or_else(|e| panic!("regression input {name}: {e}"));
        }
    }
    let seeds = ingest_seeds();
    let (seed, iterations) = (fuzz_seed(), fuzz_iterations(1500));
    let mut mutator = Mutator::new(seed);
    // The input being tried lives where a process abort (which no test can catch) leaves it.
    let current = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-current");
    std::fs::create_dir_all(&current).unwrap();
    for iteration in 0..iterations {
        let (extension, original) = &seeds[mutator.below(seeds.len())];
        let input = mutator.mutate(original);
        let path = current.join(format!("input{extension}"));
        std::fs::write(&path, &input).unwrap();
        if let Err(error) = ingest_one(&path, iteration % 4 == 0) {
            let name = format!("seed{seed}-iteration{iteration}{extension}");
            let kept = keep_failure("ingest", &name, &input);
            panic!(
                "{error}; the input is kept in {}: add it to tests/fuzz-regressions/ingest/",
                kept.display()
            );
        }
    }
}

/// Real jobs of every kind, as a producer encodes them.
fn job_seeds() -> Vec<Vec<u8>> {
    let pair = Pair { symbol: "BRK.B".parse().unwrap(), timeframe: ml_core::Timeframe::H1 };
    let snapshot = Snapshot {
        key: format!("bars/BRK.B/h1/{}.parquet", "ab".repeat(32)),
        sha256: "ab".repeat(32),
        bars: 4321,
        last_bar: "2024-03-01T15:00:00Z".parse().unwrap(),
    };
    let config = ml_core::model::TrainConfig::for_timeframe(ml_core::Timeframe::H1);
    let run = uuid::Uuid::new_v4();
    [
        JobKind::Train { pair: pair.clone(), snapshot: snapshot.clone(), config },
        JobKind::Forecast { pair, snapshot, last_bar: None },
        JobKind::Ping,
    ]
    .into_iter()
    .map(|kind| serde_json::to_vec(&Job::new(run, kind, Some("idempotency".to_owned()))).unwrap())
    .collect()
}

/// Decodes one payload as a worker does; an error for a panic or a job that does not survive
/// being encoded again.
fn decode_one(input: &[u8]) -> Result<(), String> {
    match std::panic::catch_unwind(|| worker::payload::decode_job(input)) {
        Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
        Ok(Err(_refused)) => Ok(()),
        Ok(Ok(job)) => {
            let again = worker::payload::decode_job(&serde_json::to_vec(&job).unwrap());
            if again.as_ref() == Ok(&job) { Ok(()) } else { Err(format!("{job:?} re-encodes as {again:?}")) }
        }
    }
}

#[test]
fn job_payloads_never_panic_a_worker_and_what_it_accepts_round_trips() {
    for (name, input) in regressions("job") {
        decode_one(&input).unwrap_or_else(|e| panic!("regression input {name}: {e}"));
    }
    let seeds = job_seeds();
    let (seed, iterations) = (fuzz_seed(), fuzz_iterations(20_000));
    let mut mutator = Mutator::new(seed);
    for iteration in 0..iterations {
        let original = &seeds[mutator.below(seeds.len())];
        let input = mutator.mutate(original);
        if let Err(error) = decode_one(&input) {
            let kept = keep_failure("job", &format!("seed{seed}-iteration{iteration}.json"), &input);
            panic!("{error}; the input is kept in {}: add it to tests/fuzz-regressions/job/", kept.display());
        }
    }
}
