//! The `producer` binary's offline commands on the real data files.

use std::process::Command;

use tests::{command, data_dir, run};

fn producer(args: &[&str]) -> Command {
    command("producer", args)
}

#[test]
fn ingest_check_reports_every_real_file_as_json() {
    let data = data_dir();
    let files = [
        "BTCUSD-1h-coinbase.csv",
        "EURUSD-1h-2017.csv",
        "GOOGL-daily-2009-2018.csv",
        "stocks-daily-2000-2013.csv.gz",
    ];
    let mut command = producer(&["ingest", "--check", "--json"]);
    command.args(files.map(|f| data.join(f)));
    let output = run(&mut command);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 4);
    assert!(reports.iter().all(|r| r["status"] == "ok"));
    let stocks = &reports[3]["series"];
    assert_eq!(stocks.as_array().unwrap().len(), 5);
    assert_eq!(stocks[0]["symbol"], "AAPL");
    assert_eq!(stocks[0]["timeframe"], "d1");
    assert_eq!(stocks[0]["rows_kept"], 3270);
    assert_eq!(stocks[0]["adjusted"], true);
    assert_eq!(reports[0]["series"][0]["reordered"], true);
    assert_eq!(reports[0]["preamble_lines"], 1);
}

#[test]
fn ingest_check_fails_on_an_unusable_file_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("XYZ.csv");
    std::fs::write(&bad, "date,open,high,low,close\n2024-01-02,1,1,1,-5\n").unwrap();
    let good = data_dir().join("GOOGL-daily-2009-2018.csv");
    let output = run(producer(&["ingest", "--check"]).arg(&good).arg(&bad));
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("GOOGL    d1   read   2335  kept   2335"), "{stdout}");
    assert!(stdout.contains("XYZ.csv: no usable bar (1 rows skipped)"), "{stdout}");

    let strict = run(producer(&["ingest", "--check", "--strict"]).arg(&bad));
    let stdout = String::from_utf8_lossy(&strict.stdout);
    assert!(stdout.contains("line 2, field close: close is -5"), "{stdout}");
}

#[test]
fn features_writes_csv_and_parquet_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir().join("stocks-daily-2000-2013.csv.gz");
    for name in ["ibm.csv", "ibm.parquet"] {
        let out = dir.path().join(name);
        let output = run(producer(&["features", "--symbol", "IBM", "-o"]).arg(&out).arg(&data));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(std::fs::metadata(&out).unwrap().len() > 100_000, "{name} has content");
    }
    let csv = std::fs::read_to_string(dir.path().join("ibm.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("ts,open,high,low,close,volume,returns_1d,"), "{header}");
    assert!(header.ends_with(",ready,forward_return,label"), "{header}");
    assert_eq!(csv.lines().count(), 3270 + 1);
    let last = csv.lines().last().unwrap();
    assert!(last.ends_with(",,"), "the last rows have no label: {last}");

    let ambiguous = run(producer(&["features", "-o"]).arg(dir.path().join("x.csv")).arg(&data));
    assert!(!ambiguous.status.success());
    let stderr = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(
        stderr.contains("use --symbol: ") && stderr.contains("holds 5 symbols (AAPL, FB, GOOG, IBM, MSFT)"),
        "{stderr}"
    );
}

#[test]
fn features_resamples_hourly_bars() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eurusd-h4.csv");
    let data = data_dir().join("EURUSD-1h-2017.csv");
    let output = run(producer(&["features", "--resample", "h4", "-o"]).arg(&out).arg(&data));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows = std::fs::read_to_string(&out).unwrap().lines().count() - 1;
    assert!((1_500..1_700).contains(&rows), "{rows} four-hour bars from 6,225 hourly ones");
}

#[test]
fn a_schedule_that_is_not_cron_is_refused_and_all_off_starts_nothing() {
    let services = [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("ARTIFACTS_URL", "file:///tmp/boltfleet-schedule-test"),
    ];
    let mut bad = producer(&["schedule", "--train-schedule", "monthly"]);
    bad.envs(services);
    let output = run(&mut bad);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"monthly\" is not a cron schedule"));

    let mut all_off = producer(&["schedule"]);
    all_off.envs(services).envs([
        ("TRAIN_SCHEDULE", "off"),
        ("FORECAST_SCHEDULE", "off"),
        ("EVALUATE_SCHEDULE", "off"),
    ]);
    let output = run(&mut all_off);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("every schedule is off"));
}

/// Hostile text where a symbol or a timeframe goes in (quotes for SQL, `..` for paths, a very
/// long or non-ASCII name) is refused with the reason while the arguments are read: before any
/// key, path or query is made from it. The fleet's settings point nowhere, so anything that
/// got further would fail differently.
#[test]
fn hostile_symbols_and_timeframes_are_refused_before_anything_runs() {
    let long = "A".repeat(200);
    let symbols =
        ["AAPL'; drop table training_runs;--", "../../etc", ".hidden", long.as_str(), "ÄPPLE", "AAPL BTC"];
    let nowhere = |command: &mut Command| {
        command
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env("REDIS_URL", "redis://127.0.0.1:1")
            .env("ARTIFACTS_URL", "file:///nonexistent-boltfleet-store");
    };
    for symbol in symbols {
        for args in [
            vec!["train", "--symbols", symbol],
            vec!["forecast", "--symbols", symbol],
            vec!["models", "list", "--symbol", symbol],
            vec!["ingest", "--check", "--symbol", symbol],
        ] {
            let mut command = producer(&args);
            nowhere(&mut command);
            if args[0] == "ingest" {
                command.arg(data_dir().join("GOOGL-daily-2009-2018.csv"));
            }
            let output = run(&mut command);
            let error = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {error}");
            assert!(error.contains("symbol"), "{args:?} names the symbol's problem: {error}");
        }
    }
    for timeframe in ["d1'; --", "../d1", "h1/../d1", "ｄ1"] {
        let mut command = producer(&["train", "--timeframes", timeframe]);
        nowhere(&mut command);
        let output = run(&mut command);
        assert_eq!(output.status.code(), Some(2), "{timeframe}: {}", String::from_utf8_lossy(&output.stderr));
    }
}
