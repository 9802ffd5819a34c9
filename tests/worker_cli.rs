//! The `worker` binary's offline commands: train from a real file, predict with the artifact,
//! refuse a damaged one.

use std::process::Command;

use tests::{command, data_dir, run};

fn worker(args: &[&str]) -> Command {
    command("worker", args)
}

#[test]
fn train_file_evaluates_and_predict_forecasts_on_hourly_eurusd() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("eurusd");
    let data = data_dir().join("EURUSD-1h-2017.csv");

    // 100 trees instead of 200 and two walk-forward folds instead of three: each fold fits
    // two more ensembles (the probability ensemble's weight comes from an inner split).
    let output = run(worker(&["train-file", "--json", "--trees", "100", "--walk-forward", "2", "--out"])
        .arg(&artifact)
        .arg(&data));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let evaluation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for model in ["random_forest", "gradient_boosting", "ensemble"] {
        let accuracy = &evaluation[model]["validation"]["accuracy"];
        let (low, value, high) = (
            accuracy["low"].as_f64().unwrap(),
            accuracy["value"].as_f64().unwrap(),
            accuracy["high"].as_f64().unwrap(),
        );
        assert!(low < value && value < high, "{model}: {accuracy}");
        assert!(evaluation[model]["validation"]["log_loss"].as_f64().unwrap() > 0.0);
        assert!(evaluation[model]["validation"]["brier"].as_f64().is_some());
        assert_eq!(evaluation[model]["validation"]["per_class"].as_array().unwrap().len(), 3);
    }
    assert!(evaluation["baselines"]["majority"]["accuracy"]["value"].as_f64().is_some());
    assert!(evaluation["baselines"]["persistence"]["accuracy"]["value"].as_f64().is_some());
    let weights = evaluation["weights"].as_array().unwrap();
    let total: f64 = weights.iter().map(|w| w.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let samples = &evaluation["samples"];
    assert_eq!(samples["bars"], 6_225);
    assert_eq!(samples["purged_rows"], 5, "h1 labels look 5 bars ahead");
    assert!(evaluation["verdict"]["summary"].as_str().unwrap().starts_with("ensemble accuracy"));
    // The quant's view: the signal traded against buy-and-hold, calibration, the scores.
    let backtest = &evaluation["backtest"];
    let bars_per_year = backtest["bars_per_year"].as_f64().unwrap();
    assert!((5_000.0..7_000.0).contains(&bars_per_year), "FX trades ~24 x 5 hours a week: {bars_per_year}");
    for strategy in ["long_short", "long_only", "buy_and_hold", "majority", "persistence"] {
        assert_eq!(backtest[strategy]["bars"], samples["validation_rows"], "{strategy}");
        assert!(backtest[strategy]["max_drawdown"].as_f64().unwrap() >= 0.0, "{strategy}");
        assert!(!backtest[strategy]["equity_curve"].as_array().unwrap().is_empty(), "{strategy}");
    }
    assert_eq!(evaluation["calibration"]["classes"].as_array().unwrap().len(), 3);
    assert!(evaluation["calibration"]["ece"].as_f64().unwrap() >= 0.0);
    let scores = &evaluation["scores"];
    for score in ["backtest", "walk_forward"] {
        let value = scores[score]["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{score}: {value}");
    }
    assert!(scores["live"].is_null(), "no live score before any forecast is realised");
    let rules = &evaluation["rules"];
    assert_eq!(
        (rules["ensemble"].as_str(), rules["threshold_rule"].as_str()),
        (Some("proba"), Some("fixed"))
    );
    assert_eq!(rules["labels"]["threshold"], 0.003, "h1's default threshold");
    assert_eq!(evaluation["composite"]["missing"], serde_json::json!(["live"]));
    assert_eq!(
        evaluation["walk_forward"]["folds"].as_array().unwrap().len(),
        2,
        "two walk-forward folds, as asked"
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(artifact.join("manifest.json")).unwrap()).unwrap();
    assert_eq!((manifest["symbol"].as_str(), manifest["timeframe"].as_str()), (Some("EURUSD"), Some("h1")));

    let output = run(worker(&["predict", "--json"]).arg(&artifact).arg(&data));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let forecast: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(forecast["bar_ts"], "2017-12-29T21:00:00Z");
    assert!(["BULLISH", "NEUTRAL", "BEARISH"].contains(&forecast["direction"].as_str().unwrap()));
    let confidence = forecast["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence));

    let table = run(worker(&["predict"]).arg(&artifact).arg(&data));
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("EURUSD h1 at 2017-12-29 21:00 (+5 bars): "));

    // One flipped byte in the model: refused before anything is decoded.
    let payload = artifact.join("model.bin");
    let mut bytes = std::fs::read(&payload).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&payload, bytes).unwrap();
    let output = run(worker(&["predict"]).arg(&artifact).arg(&data));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("checksum mismatch"));
}

#[test]
fn train_file_prints_the_evaluation_table() {
    let data = data_dir().join("GOOGL-daily-2009-2018.csv");
    let not_a_threshold = run(worker(&["train-file", "--threshold", "often"]).arg(&data));
    assert_eq!(not_a_threshold.status.code(), Some(2));
    let error = String::from_utf8_lossy(&not_a_threshold.stderr);
    assert!(error.contains("--threshold") && error.contains("nor auto"), "{error}");

    let output =
        run(worker(&["train-file", "--threshold", "auto", "--ensemble", "vote", "--walk-forward", "1"])
            .arg(&data));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8_lossy(&output.stdout);
    for line in [
        "  random forest ",
        "  gradient boosting ",
        "  ensemble ",
        "  majority (",
        "  persistence ",
        "verdict: ",
    ] {
        assert!(table.contains(line), "{line:?} in\n{table}");
    }
    assert!(table.starts_with("GOOGL d1 | artifact "), "{table}");
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .ends_with("(auto: a third of the training rows NEUTRAL) | ensemble vote"),
        "{table}"
    );
    assert!(table.contains("  fold 1 train ") && table.contains(" threshold 0."), "{table}");
}

#[test]
fn help_describes_what_each_binary_does_today() {
    for (binary, commands) in [
        ("worker", &["run", "train-file", "predict"][..]),
        ("producer", &["ingest", "train", "forecast", "demo"][..]),
        ("collector", &["migrate", "run"][..]),
    ] {
        let output = run(&mut command(binary, &["--help"]));
        assert!(output.status.success(), "{binary} --help failed");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(!help.contains("soon"), "{binary} --help promises what exists already:\n{help}");
        for subcommand in commands {
            assert!(help.contains(subcommand), "{binary} --help does not list {subcommand}:\n{help}");
        }
    }
    let worker_help = String::from_utf8_lossy(&run(&mut command("worker", &["--help"])).stdout).into_owned();
    assert!(worker_help.contains("job queue"), "{worker_help}");
}
