//! The fleet across hosts: workers, the collector and the trigger each in a network namespace
//! of their own (`tests::netlab`), reaching Redis, Postgres and the S3 server over a bridge
//! only. Each scenario checks one result row per job, that the row, the summary
//! (`pair_latest`) and `latest.json` name the same model, and that every process recovered by
//! itself or exited non-zero for its supervisor.

use std::time::Duration;

use fleet::store::ArtifactStore;
use tests::netlab::{Host, LabFleet, NetLab};
use tests::{FleetEnv, Process, RedisServer, data_dir};

/// Training of some seconds per daily pair in a debug build.
const TRAINING: [&str; 3] = ["--trees=200", "--rounds=80", "--walk-forward=2"];

fn run_ok(host: &Host, fleet: &LabFleet, name: &str, args: &[&str]) -> String {
    let output = host.run(fleet, name, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Each pair's result row, summary and `latest.json` name one model.
fn assert_one_model_per_pair(env: &FleetEnv, symbols: &[&str]) {
    let store = ArtifactStore::open(&env.store()).expect("the test store opens");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for symbol in symbols {
        let pair = ml_core::job::Pair { symbol: symbol.parse().unwrap(), timeframe: ml_core::Timeframe::D1 };
        let latest = runtime.block_on(store.latest(&pair)).unwrap().expect("a latest model");
        let row = env.query(&format!(
            "select artifact_version from training_runs where symbol = '{symbol}' and status = 'succeeded'"
        ));
        let summary =
            env.query(&format!("select artifact_version from pair_latest where symbol = '{symbol}'"));
        assert_eq!(
            (row.as_str(), summary.as_str()),
            (latest.version.as_str(), latest.version.as_str()),
            "{symbol}"
        );
    }
}

/// A worker that came back either runs (it recovered) or exited non-zero with the reason.
fn recovered_or_failed_loudly(worker: &mut Process) {
    if let Some(status) = worker.wait_exit(Duration::from_millis(200)) {
        assert!(
            !status.success(),
            "{} exited 0 without being told to:\n{}",
            worker.name,
            worker.log().join("\n")
        );
    }
}

/// A worker cut from everything for 60 s in the middle of a training job: the other worker
/// takes the job over after 15 s of silence; the cut worker, back, finds the job gone and
/// neither promotes nor publishes; every job ends in one row.
#[test]
fn a_worker_partitioned_for_60_seconds_mid_job_costs_time_not_rows() {
    const SYMBOLS: [&str; 3] = ["AAPL", "GOOG", "IBM"];
    let redis = RedisServer::ephemeral();
    let env = FleetEnv::on_redis("partition", &redis.url());
    let mut lab = NetLab::new();
    let fleet = lab.fleet(&env);
    let (cut_host, other_host, control) = (lab.host("w1"), lab.host("w2"), lab.host("ctl"));
    run_ok(&control, &fleet, "collector", &["migrate"]);
    let bars = data_dir().join("stocks-daily-2000-2013.csv.gz");
    run_ok(&control, &fleet, "producer", &["ingest", bars.to_str().unwrap()]);
    let _collector = control.spawn(&fleet, "collector", &["run"]);
    let mut cut = cut_host.spawn(&fleet, "worker", &["run", "--concurrency", "1"]);
    cut.wait_for_log("worker started", Duration::from_secs(60));
    let other = other_host.spawn(&fleet, "worker", &["run", "--concurrency", "1"]);
    other.wait_for_log("worker started", Duration::from_secs(60));

    let symbols = format!("--symbols={}", SYMBOLS.join(","));
    let mut args = vec!["train", symbols.as_str(), "--wait", "--timeout-secs=600"];
    args.extend(TRAINING);
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| control.run(&fleet, "producer", &args));
        cut.wait_for_log("job started", Duration::from_secs(60));
        lab.partition(&cut_host);
        std::thread::sleep(Duration::from_secs(60));
        lab.heal(&cut_host);
        let output = producer.join().expect("producer thread");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    });
    assert_eq!(
        env.query("select count(*), count(distinct job_id), count(*) filter (where status = 'succeeded') from training_runs"),
        "3|3|3",
        "one succeeded row per job"
    );
    assert_one_model_per_pair(&env, &SYMBOLS);
    assert!(
        other.log().iter().any(|line| line.contains("a dead worker's jobs are first in line")),
        "the other worker took the cut one's job over:\n{}",
        other.log().join("\n")
    );
    recovered_or_failed_loudly(&mut cut);
}
