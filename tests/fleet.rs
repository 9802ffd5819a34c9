//! The fleet end to end, as real processes on the real services: Postgres, Redis and an S3
//! server (SeaweedFS, started by `.ci/run` or `scripts/s3-server`).

use std::time::{Duration, Instant};

use fleet::config::StoreArgs;
use fleet::store::ArtifactStore;
use tests::{FleetEnv, data_dir};

/// Small models: these tests check the fleet's plumbing, not the ensemble's quality.
const QUICK_TRAINING: [&str; 4] = ["--trees", "40", "--rounds", "20"];
const PAIRS: &str = "--symbols=AAPL,MSFT,IBM,GOOG,EURUSD";

fn store(env: &FleetEnv) -> ArtifactStore {
    let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    ArtifactStore::open(&StoreArgs {
        artifacts_url: env.artifacts_url.clone(),
        aws_endpoint_url: Some(env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")),
        aws_access_key_id: Some(env_or("AWS_ACCESS_KEY_ID", "minioadmin")),
        aws_secret_access_key: Some(env_or("AWS_SECRET_ACCESS_KEY", "minioadmin")),
        aws_region: "us-east-1".to_owned(),
    })
    .expect("the test store opens")
}

fn list(env: &FleetEnv, prefix: &str) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(store(env).list(prefix)).expect("the bucket lists")
}

fn ingest(env: &FleetEnv) {
    let data = data_dir();
    env.run_ok("collector", &["migrate"]);
    for file in ["stocks-daily-2000-2013.csv.gz", "EURUSD-1h-2017.csv"] {
        let path = data.join(file);
        let output = env.run_ok("producer", &["ingest", path.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("bars written"), "{stdout}");
    }
}

#[test]
fn producer_workers_collector_train_and_forecast_every_pair_once() {
    let env = FleetEnv::new("e2e");
    ingest(&env);
    // Loading the same file again writes nothing.
    let again = env.run_ok("producer", &["ingest", data_dir().join("EURUSD-1h-2017.csv").to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(": 0 bars written"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(
        env.query("select count(distinct (symbol, timeframe)) from ohlc_bars"),
        "6",
        "AAPL, IBM, MSFT, GOOG, FB d1 and EURUSD h1"
    );

    let _collector = env.spawn("collector", &["run"]);
    let _workers = [
        env.spawn("worker", &["run", "--concurrency", "1"]),
        env.spawn("worker", &["run", "--concurrency", "1"]),
    ];

    let mut train = vec!["train", PAIRS, "--wait"];
    train.extend(QUICK_TRAINING);
    let first = env.run_ok("producer", &train);
    let summary = String::from_utf8_lossy(&first.stdout);
    assert_eq!(summary.matches("succeeded").count(), 5, "{summary}");
    assert_eq!(
        env.query(
            "select count(*), count(distinct worker_id), bool_and(artifact_version is not null and promoted \
             and ensemble_accuracy between 0 and 1 and majority_accuracy is not null and evaluation ? 'verdict') \
             from training_runs where status = 'succeeded'"
        ),
        "5|2|t",
        "five runs, spread over both workers, each with its artifact and metrics"
    );

    let models = list(&env, "models");
    for pair in ["AAPL/d1", "MSFT/d1", "IBM/d1", "GOOG/d1", "EURUSD/h1"] {
        assert!(
            models.contains(&format!("models/{pair}/latest.json")),
            "{pair} has a latest pointer: {models:?}"
        );
        let manifests = models
            .iter()
            .filter(|k| k.starts_with(&format!("models/{pair}/")) && k.ends_with("manifest.json"));
        assert_eq!(manifests.count(), 1, "{pair}: one version: {models:?}");
    }
    let snapshots = list(&env, "bars");
    assert_eq!(snapshots.len(), 5, "one content-addressed snapshot per pair: {snapshots:?}");

    let forecast = env.run_ok("producer", &["forecast", PAIRS, "--wait"]);
    let summary = String::from_utf8_lossy(&forecast.stdout);
    assert_eq!(summary.matches("predicted").count(), 5, "{summary}");
    assert_eq!(
        env.query(
            "select count(*), bool_and(is_trained_ensemble and direction is not null \
             and confidence between 0 and 1 and abs(prob_bearish + prob_neutral + prob_bullish - 1) < 1e-9 \
             and artifact_version is not null and bar_ts is not null) from ml_forecasts"
        ),
        "5|t"
    );

    // The same trigger on the same data and configuration trains nothing.
    let second = env.run_ok("producer", &train);
    let summary = String::from_utf8_lossy(&second.stdout);
    assert_eq!(summary.matches("up_to_date").count(), 5, "{summary}");
    assert_eq!(env.query("select count(*) from training_runs where status = 'succeeded'"), "5");
    assert_eq!(list(&env, "models").len(), models.len(), "no new artifact");

    // A pair with no model gets a clear row, not a crash.
    let no_model = tests::run(&mut env.command("producer", &["forecast", "--symbols=FB", "--wait"]));
    assert!(!no_model.status.success(), "a forecast without a model is not a success");
    assert_eq!(
        env.query("select is_trained_ensemble, error like '%no trained model for FB d1%' from ml_forecasts where symbol = 'FB'"),
        "f|t"
    );
}

#[test]
fn a_killed_worker_job_is_finished_by_another_within_30_seconds() {
    let env = FleetEnv::new("kill");
    ingest(&env);
    let _collector = env.spawn("collector", &["run"]);
    let first = env.spawn("worker", &["run", "--concurrency", "1"]);
    first.wait_for_log("worker started", Duration::from_secs(60));
    // A full-size model on 13 years of AAPL: long enough to be killed in the middle.
    let mut trigger = env.command("producer", &["train", "--symbols=AAPL", "--wait", "--timeout-secs=120"]);
    let producer = std::thread::spawn(move || tests::run(&mut trigger));
    first.wait_for_log("job started", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    first.signal("KILL");
    let killed_at = Instant::now();
    let second = env.spawn("worker", &["run", "--concurrency", "1"]);

    let output = producer.join().expect("producer thread");
    let took = killed_at.elapsed();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(took < Duration::from_secs(30), "finished {took:?} after the kill");
    assert!(!first.log().iter().any(|l| l.contains("job finished")), "the first worker died mid-job");
    second.wait_for_log("job finished", Duration::from_secs(5));
    assert_eq!(
        env.query("select count(*), count(*) filter (where status = 'succeeded') from training_runs"),
        "1|1"
    );
}
