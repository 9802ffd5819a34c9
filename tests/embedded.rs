//! Embedded mode: the fleet with no server. `boltfleet demo` runs it in one process; the same
//! binaries run it as separate processes when their settings name SQLite files and a folder.

use std::time::Duration;

use fleet::config::{DatabaseConfig, QueueConfig, StoreConfig};
use fleet::database::Database;
use fleet::queue::Queue;
use fleet::store::ArtifactStore;
use ml_core::job::{Job, JobKind, LastBarFeatures};
use tests::{EmbeddedEnv, TestFleet, data_dir, eventually};

/// Small models: these tests check the plumbing, not the ensemble's quality.
/// No walk-forward folds (on by default): they would triple the training for nothing here.
const QUICK_TRAINING: [&str; 6] = ["--trees", "40", "--rounds", "20", "--walk-forward", "0"];

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_demo_trains_and_forecasts_with_no_server_and_reuses_its_data_directory() {
    let env = EmbeddedEnv::new();
    // The demo's data directory is the test's: its files are the ones `env` reads.
    let data = env.dir.path();
    let stocks = data_dir().join("stocks-daily-2000-2013.csv.gz");
    let eurusd = data_dir().join("EURUSD-1h-2017.csv");
    let mut demo = vec![
        "demo",
        "--data-dir",
        data.to_str().unwrap(),
        "--workers",
        "2",
        "--symbols",
        "AAPL,MSFT,EURUSD",
        stocks.to_str().unwrap(),
        eurusd.to_str().unwrap(),
    ];
    demo.extend(QUICK_TRAINING);
    // No setting at all: the demo must not need (or pick up) a server's.
    let bare = || {
        let mut command = tests::command("producer", &demo);
        for setting in ["DATABASE_URL", "REDIS_URL", "QUEUE_URL", "ARTIFACTS_URL", "AWS_ENDPOINT_URL"] {
            command.env_remove(setting);
        }
        command
    };

    let first = tests::run(&mut bare());
    let summary = stdout(&first);
    assert!(first.status.success(), "{summary}\n{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(summary.matches("succeeded").count(), 3, "AAPL d1, MSFT d1, EURUSD h1 trained:\n{summary}");
    assert_eq!(summary.matches("predicted").count(), 3, "and forecast:\n{summary}");
    assert!(summary.contains("bars written"), "the bars were loaded:\n{summary}");
    for file in [
        "queue.db",
        "fleet.db",
        "artifacts/models/AAPL/d1/latest.json",
        "artifacts/models/EURUSD/h1/latest.json",
    ] {
        assert!(data.join(file).exists(), "{file} is in the data directory");
    }
    assert_eq!(env.count("select count(*) from training_runs where status = 'succeeded' and promoted"), 3);
    assert_eq!(env.count("select count(*) from ml_forecasts where is_trained_ensemble"), 3);

    let second = tests::run(&mut bare());
    let summary = stdout(&second);
    assert!(second.status.success(), "{summary}\n{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(summary.matches("up_to_date").count(), 3, "nothing is trained twice:\n{summary}");
    assert_eq!(summary.matches("predicted").count(), 3, "{summary}");
    assert!(summary.contains(": 0 bars written"), "the bars are stored once:\n{summary}");
    assert_eq!(env.count("select count(*) from training_runs where status = 'up_to_date'"), 3);
    assert_eq!(env.count("select count(*) from ml_forecasts where is_trained_ensemble"), 6);
}

#[test]
fn the_binaries_run_as_a_fleet_on_sqlite_files_and_a_folder() {
    let env = EmbeddedEnv::new();
    env.run_ok("collector", &["migrate"]);
    let stocks = data_dir().join("stocks-daily-2000-2013.csv.gz");
    let ingest = env.run_ok("producer", &["ingest", stocks.to_str().unwrap()]);
    assert!(stdout(&ingest).contains("bars written"), "{}", stdout(&ingest));
    assert_eq!(env.count("select count(distinct symbol) from ohlc_bars"), 5, "AAPL, IBM, MSFT, GOOG, FB");

    let mut collector = env.spawn("collector", &["run"]);
    let mut workers = [
        env.spawn("worker", &["run", "--concurrency", "1"]),
        env.spawn("worker", &["run", "--concurrency", "1"]),
    ];
    let mut train = vec!["train", "--symbols", "AAPL,IBM", "--wait", "--timeout-secs", "600"];
    train.extend(QUICK_TRAINING);
    let trained = env.run_ok("producer", &train);
    assert_eq!(stdout(&trained).matches("succeeded").count(), 2, "{}", stdout(&trained));
    assert_eq!(
        env.count(
            "select count(*) from training_runs where status = 'succeeded' and promoted \
             and ensemble_accuracy between 0 and 1 and json_extract(evaluation, '$.verdict') is not null"
        ),
        2,
        "each run with its metrics and evaluation"
    );
    assert_eq!(
        env.count(
            "select count(*) from training_runs where ensemble_rule = 'proba' and threshold_rule = 'fixed' \
             and label_threshold > 0 and buy_hold_sharpe is not null and composite between 0 and 1 \
             and calibration_ece between 0 and 1 \
             and json_array_length(evaluation -> '$.backtest.long_short.equity_curve') > 1"
        ),
        2,
        "the summary columns of every run"
    );
    assert!(stdout(&trained).contains("DSR (N)"), "{}", stdout(&trained));
    assert_eq!(
        env.count("select count(distinct worker_id) from training_runs"),
        2,
        "both workers took a job"
    );

    let forecast = env.run_ok("producer", &["forecast", "--symbols", "AAPL,IBM", "--wait"]);
    assert_eq!(stdout(&forecast).matches("predicted").count(), 2, "{}", stdout(&forecast));
    assert_eq!(
        env.count(
            "select count(*) from ml_forecasts where is_trained_ensemble and confidence between 0 and 1 \
             and abs(prob_bearish + prob_neutral + prob_bullish - 1) < 1e-9 and bar_ts is not null"
        ),
        2
    );
    let pinged = env.run_ok("producer", &["ping", "--count", "50", "--wait", "--timeout-secs", "60"]);
    assert!(stdout(&pinged).contains("50/50 pings"), "{}", stdout(&pinged));

    // A job no worker can read goes to the dead jobs, and the workers carry on.
    let poison = tests::poison_jobs();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue =
        runtime.block_on(Queue::connect(&QueueConfig::sqlite(&env.queue_file(), "boltfleet"))).unwrap();
    runtime.block_on(queue.push_raw(&poison)).unwrap();
    for job in &poison {
        let dead =
            eventually(Duration::from_secs(30), || runtime.block_on(queue.is_dead(job.job_id)).unwrap());
        assert!(dead, "the poison job {:?} is dead", String::from_utf8_lossy(&job.payload));
    }
    let again = env.run_ok("producer", &["ping", "--count", "5", "--wait", "--timeout-secs", "60"]);
    assert!(stdout(&again).contains("5/5 pings"), "{}", stdout(&again));

    drift_is_scored_alerted_and_retrained_once(&env);

    // SIGTERM: every process stops cleanly.
    for process in workers.iter_mut().chain([&mut collector]) {
        process.signal("TERM");
        let status = process.wait_exit(Duration::from_secs(30));
        assert_eq!(status.and_then(|s| s.code()), Some(0), "{} exits 0 on SIGTERM", process.name);
    }
}

#[test]
fn the_scheduler_fires_on_its_cron_schedule_and_stops_on_sigterm() {
    let env = EmbeddedEnv::new();
    env.run_ok("collector", &["migrate"]);
    let eurusd = data_dir().join("EURUSD-1h-2017.csv");
    env.run_ok("producer", &["ingest", eurusd.to_str().unwrap()]);
    let mut command = env.command("producer", &["schedule"]);
    command
        .env("TRAIN_SCHEDULE", "off")
        .env("FORECAST_SCHEDULE", "*/2 * * * * *")
        .env("EVALUATE_SCHEDULE", "off")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut scheduler = tests::Process::spawn("producer schedule", &mut command);
    scheduler.wait_for_log("schedule fired", Duration::from_secs(60));

    // No worker runs: the firing's forecast job waits in the queue.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue =
        runtime.block_on(Queue::connect(&QueueConfig::sqlite(&env.queue_file(), "boltfleet"))).unwrap();
    let queued = eventually(Duration::from_secs(30), || runtime.block_on(queue.waiting()).unwrap() >= 1);
    assert!(queued, "a fired forecast enqueued its job; log:\n{}", scheduler.log().join("\n"));

    scheduler.signal("TERM");
    let status = scheduler.wait_exit(Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "log:\n{}", scheduler.log().join("\n"));
}

/// As on Postgres (`tests/fleet.rs`): forecasts of AAPL's model over 25 past bars, all BULLISH
/// under a 1000 % threshold, are all wrong (NEUTRAL), far below validation accuracy.
fn drift_is_scored_alerted_and_retrained_once(env: &EmbeddedEnv) {
    env.execute(
        "insert into ml_forecasts (job_id, run_id, symbol, timeframe, horizon, direction, confidence,
             artifact_version, bar_ts, generated_at, is_trained_ensemble, label_threshold)
         select lower(hex(randomblob(16))), lower(hex(randomblob(16))), 'AAPL', 'd1', 5, 'BULLISH', 0.9,
             (select artifact_version from training_runs where symbol = 'AAPL' and status = 'succeeded'),
             ts, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 1, 10.0
         from (select ts from ohlc_bars where symbol = 'AAPL' and timeframe = 'd1'
               order by ts desc limit 25 offset 10)",
    );
    let evaluate =
        ["evaluate", "--drift-window-days=100000", "--trees=40", "--rounds=20", "--walk-forward=0"];
    let output = env.run_ok("producer", &evaluate);
    let printed = stdout(&output);
    assert!(printed.contains("25 forecasts scored") && printed.contains("1 drift alerts"), "{printed}");
    let scored =
        || env.count("select count(*) from forecast_outcomes where not correct and realized = 'NEUTRAL'");
    assert!(eventually(Duration::from_secs(60), || scored() == 25), "outcomes: {}", scored());
    assert!(eventually(Duration::from_secs(60), || env.count("select count(*) from drift_alerts") == 1));
    assert!(printed.contains("1 live scores"), "{printed}");
    assert!(eventually(Duration::from_secs(60), || env.count("select count(*) from live_scores") == 1));
    assert_eq!(
        env.count(
            "select count(*) from live_scores where symbol = 'AAPL' and evaluated = 25 and live_accuracy = 0 \
             and live_score = 0 and composite_drift is not null \
             and abs(live_total_return - buy_hold_total_return) < 1e-12 and scores ->> '$.live.accuracy.n' = 25"
        ),
        1,
        "always BULLISH is always long: the live backtest is buy-and-hold"
    );
    assert_eq!(env.count("select count(*) from forecast_outcomes where next_return is not null"), 25);
    assert_eq!(
        env.count(
            "select count(*) from drift_alerts where symbol = 'AAPL' and evaluated = 25 and live_accuracy = 0 \
             and validation_accuracy > 0.15 and retrain_job_id is not null"
        ),
        1
    );
    let retrained = || {
        env.count(
            "select count(*) from training_runs t join drift_alerts d on t.job_id = d.retrain_job_id \
             where t.status = 'succeeded'",
        )
    };
    assert!(eventually(Duration::from_secs(120), || retrained() == 1), "the retraining job did not succeed");
    let again = env.run_ok("producer", &evaluate);
    let printed = stdout(&again);
    assert!(printed.contains("0 forecasts scored") && printed.contains("0 drift alerts"), "{printed}");
}

#[test]
fn a_demo_stopped_by_sigterm_stops_its_fleet_and_the_next_run_finishes_the_work() {
    let env = EmbeddedEnv::new();
    let data = env.dir.path();
    let stocks = data_dir().join("stocks-daily-2000-2013.csv.gz");
    let mut demo = vec![
        "demo",
        "--data-dir",
        data.to_str().unwrap(),
        "--symbols",
        "AAPL,MSFT",
        stocks.to_str().unwrap(),
    ];
    demo.extend(QUICK_TRAINING);
    let mut first = tests::command("producer", &demo);
    first.env("RUST_LOG", "info").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut first = tests::Process::spawn("producer demo", &mut first);
    first.wait_for_log("job started", Duration::from_secs(120));
    first.signal("TERM");
    let status = first.wait_exit(Duration::from_secs(90)).expect("the demo stops after SIGTERM");
    assert_eq!(status.code(), Some(1), "an interrupted demo is not a success");
    let log = first.log().join("\n");
    assert!(log.contains("worker stopped") && log.contains("collector stopped"), "its fleet stopped: {log}");

    // Whatever was in flight finished or stayed queued: the next run ends with every pair done.
    let second = tests::run(&mut tests::command("producer", &demo));
    let summary = stdout(&second);
    assert!(second.status.success(), "{summary}\n{}", String::from_utf8_lossy(&second.stderr));
    let done = summary.matches("succeeded").count() + summary.matches("up_to_date").count();
    assert_eq!(done, 2, "{summary}");
    assert_eq!(summary.matches("predicted").count(), 2, "{summary}");
}

/// The README's commands as written: a collector and two workers on one host, none given a
/// `METRICS_ADDR`. Each serves its endpoints on a port of its own (the default, then the next
/// free ones) instead of the second one dying with "address already in use".
#[test]
fn several_workers_and_a_collector_on_one_host_need_no_port_setting() {
    let env = EmbeddedEnv::new();
    env.run_ok("collector", &["migrate"]);
    let unset_port = |command: &mut std::process::Command| {
        command.env_remove("METRICS_ADDR");
    };
    let processes = [
        env.spawn_with("collector", &["run"], unset_port),
        env.spawn_with("worker", &["run"], unset_port),
        env.spawn_with("worker", &["run"], unset_port),
    ];
    let addrs: Vec<String> = processes.iter().map(tests::Process::metrics_addr).collect();
    let distinct: std::collections::BTreeSet<&String> = addrs.iter().collect();
    assert_eq!(distinct.len(), 3, "one port each: {addrs:?}");
    let moved = processes
        .iter()
        .filter(|process| process.log().iter().any(|line| line.contains("default metrics port taken")))
        .count();
    assert!(moved >= 2, "the ones after the first say where they went: {addrs:?}");
    for addr in &addrs {
        let port = addr.rsplit(':').next().unwrap();
        let health = tests::http_get(&format!("127.0.0.1:{port}"), "/healthz");
        assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"), "{addr}: {health}");
    }
    let pinged = env.run_ok("producer", &["ping", "--count", "20", "--wait", "--timeout-secs", "60"]);
    assert!(stdout(&pinged).contains("20/20 pings"), "{}", stdout(&pinged));
}

/// An embedded fleet (a collector and a worker) with GOOGL's daily bars trained on.
fn googl_trained() -> (EmbeddedEnv, [tests::Process; 2]) {
    let env = EmbeddedEnv::new();
    env.run_ok("collector", &["migrate"]);
    env.run_ok("producer", &["ingest", data_dir().join("GOOGL-daily-2009-2018.csv").to_str().unwrap()]);
    let fleet = [env.spawn("collector", &["run"]), env.spawn("worker", &["run", "--concurrency", "1"])];
    let mut train = vec!["train", "--wait", "--timeout-secs", "300"];
    train.extend(QUICK_TRAINING);
    env.run_ok("producer", &train);
    (env, fleet)
}

/// A forecast job without its last bar's features (from a trigger older than them, or of
/// another feature schema) is forecast from its snapshot file, to the very same forecast.
#[test]
fn a_forecast_job_without_its_features_is_forecast_from_its_snapshot_alike() {
    let (env, _fleet) = googl_trained();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue =
        runtime.block_on(Queue::connect(&QueueConfig::sqlite(&env.queue_file(), "boltfleet"))).unwrap();
    let pair = ml_core::job::Pair { symbol: "GOOGL".parse().unwrap(), timeframe: ml_core::Timeframe::D1 };
    let database =
        runtime.block_on(Database::connect(&DatabaseConfig::sqlite(&env.database_file()))).unwrap();
    let pairs_bars = vec![(pair.clone(), runtime.block_on(database.bars(&pair, Some(500))).unwrap())];
    let store = ArtifactStore::open(&StoreConfig::folder(&env.artifacts_dir())).unwrap();
    let parquet = ml_core::snapshot::encode_pairs(&pairs_bars).unwrap();
    let snapshot = runtime.block_on(store.put_snapshot_of_pairs(parquet, &pairs_bars)).unwrap().remove(0);
    let carried = LastBarFeatures::of(&ml_core::model::last_bar(&pairs_bars[0].1).unwrap());
    // And a job carrying other features than its snapshot's is forecast from those.
    let other =
        LastBarFeatures { feature_bits: vec![f64::MAX.to_bits(); carried.feature_bits.len()], ..carried };
    let jobs = [None, Some(carried), Some(other)].map(|last_bar| {
        let kind = JobKind::Forecast { pair: pair.clone(), snapshot: snapshot.clone(), last_bar };
        Job::new(uuid::Uuid::new_v4(), kind, None)
    });
    runtime.block_on(queue.push(&jobs)).unwrap();
    let forecasts_of = |jobs: &[Job]| {
        let ids = jobs.iter().map(|job| format!("'{}'", job.job_id)).collect::<Vec<_>>().join(", ");
        let done =
            format!("select count(*) from ml_forecasts where job_id in ({ids}) and is_trained_ensemble");
        assert!(
            eventually(Duration::from_secs(60), || env.count(&done) == i64::try_from(jobs.len()).unwrap())
        );
        env.count(&format!(
            "select count(*) from (select distinct bar_ts, direction, prob_bearish, prob_neutral, prob_bullish \
             from ml_forecasts where job_id in ({ids}))"
        ))
    };
    assert_eq!(forecasts_of(&jobs[..2]), 1, "one forecast, from the job's features or from its snapshot");
    assert_eq!(forecasts_of(&jobs), 2, "the features a job carries are what it is forecast from");
}

/// The store changed under a running fleet: a flipped payload byte, `latest.json` naming a
/// version that is not there or holding garbage, a job whose bars are gone. Each job fails
/// with the reason in its row; the worker goes on (no crash loop). A rewritten manifest
/// changes no forecast: a forecast reads the payload `latest.json` pins, and only that.
#[test]
fn a_tampered_or_incomplete_store_is_refused_with_the_reason_and_the_worker_goes_on() {
    let (env, _fleet) = googl_trained();
    let models = env.artifacts_dir().join("models/GOOGL/d1");
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models.join("latest.json")).unwrap()).unwrap();
    let version = latest["version"].as_str().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue =
        runtime.block_on(Queue::connect(&QueueConfig::sqlite(&env.queue_file(), "boltfleet"))).unwrap();

    let refused_with = |reason: &str| {
        let forecast =
            tests::run(&mut env.command("producer", &["forecast", "--wait", "--timeout-secs", "60"]));
        assert!(!forecast.status.success(), "a refused forecast is not a success");
        let errors = env.count(&format!(
            "select count(*) from ml_forecasts where not is_trained_ensemble and error like '%{reason}%'"
        ));
        assert_eq!(
            errors,
            1,
            "one forecast refused for {reason:?}: {}",
            String::from_utf8_lossy(&forecast.stdout)
        );
    };
    let payload = models.join(&version).join("model.bin");
    let original = std::fs::read(&payload).unwrap();
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 0xff;
    std::fs::write(&payload, flipped).unwrap();
    refused_with("checksum");
    std::fs::write(&payload, original).unwrap();

    // Valid JSON, another story: weights the model was not trained with. The forecast is the
    // payload's, whose own weights are pinned by its hash. (The worker decodes the model
    // here: the forecast refused above cached nothing.)
    let manifest = models.join(&version).join("manifest.json");
    let mut rewritten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    rewritten["weights"] = serde_json::json!([0.99, 0.01]);
    std::fs::write(&manifest, serde_json::to_vec_pretty(&rewritten).unwrap()).unwrap();
    let forecast = env.run_ok("producer", &["forecast", "--wait", "--timeout-secs", "60"]);
    let predicted = format!("model {version}");
    assert!(
        stdout(&forecast).contains("predicted") && stdout(&forecast).contains(&predicted),
        "{}",
        stdout(&forecast)
    );

    // A train job whose bars are not in the store (pruned by hand, or a producer that failed
    // to upload them) fails at once with the key, without retries.
    let pair = ml_core::job::Pair { symbol: "GOOGL".parse().unwrap(), timeframe: ml_core::Timeframe::D1 };
    let snapshot = ml_core::job::Snapshot {
        key: format!("bars/GOOGL/d1/{}.parquet", "0".repeat(64)),
        sha256: "0".repeat(64),
        bars: 2000,
        last_bar: chrono::Utc::now(),
    };
    let kind = JobKind::Train {
        pair,
        snapshot,
        config: ml_core::model::TrainConfig::for_timeframe(ml_core::Timeframe::D1),
    };
    runtime.block_on(queue.push(&[Job::new(uuid::Uuid::new_v4(), kind, None)])).unwrap();
    let failed = eventually(Duration::from_secs(60), || {
        env.count("select count(*) from training_runs where status = 'failed' and error like '%0000.parquet is not in the store%'") == 1
    });
    assert!(failed, "the missing snapshot is a failed run naming its key");

    let mut missing = latest;
    missing["version"] = "20000101T000000Z-00000000".into();
    std::fs::write(models.join("latest.json"), missing.to_string()).unwrap();
    refused_with("20000101T000000Z-00000000");

    std::fs::write(models.join("latest.json"), b"{ not a pointer").unwrap();
    refused_with("latest.json is corrupt");

    let pinged = env.run_ok("producer", &["ping", "--count", "5", "--wait", "--timeout-secs", "60"]);
    assert!(stdout(&pinged).contains("5/5 pings"), "the worker goes on: {}", stdout(&pinged));
}
