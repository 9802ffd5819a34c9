//! The fleet across hosts: workers, the collector and the trigger each in a network namespace
//! of their own (`tests::netlab`), reaching Redis, Postgres and the S3 server over a bridge
//! only. Each scenario checks one result row per job, that the row, the summary
//! (`pair_latest`) and `latest.json` name the same model, and that every process recovered by
//! itself or exited non-zero for its supervisor.

use std::time::Duration;

use fleet::store::ArtifactStore;
use tests::netlab::{Host, LabFleet, NetLab};
use tests::{FleetEnv, LinkShape, Process, RedisServer, data_dir, started_job};

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

/// Every job the workers started, each as often as it was started.
fn started_jobs(workers: &[&Process]) -> std::collections::BTreeMap<String, usize> {
    let mut started = std::collections::BTreeMap::new();
    for line in workers.iter().flat_map(|worker| worker.log()) {
        if let Some(job) = started_job(&line) {
            *started.entry(job).or_insert(0) += 1;
        }
    }
    started
}

/// The lab of a scenario: the fleet's services on the bridge, a control host running the
/// collector (after the migration and the ingest of the daily stocks).
/// Fields drop in order: the fleet's keys are cleared before its Redis stops.
struct Scenario {
    env: FleetEnv,
    lab: NetLab,
    _redis: RedisServer,
}

impl Scenario {
    fn new(tag: &str) -> Self {
        let redis = RedisServer::ephemeral();
        let env = FleetEnv::on_redis(tag, &redis.url());
        Self { env, lab: NetLab::new(), _redis: redis }
    }
}

/// `boltfleet train` (with [`TRAINING`]) of `symbols` on `host`, to its end.
fn train(host: &Host, fleet: &LabFleet, symbols: &[&str]) -> String {
    let symbols = format!("--symbols={}", symbols.join(","));
    let mut args = vec!["train", symbols.as_str(), "--wait", "--timeout-secs=600"];
    args.extend(TRAINING);
    run_ok(host, fleet, "producer", &args)
}

/// A whole train and forecast run with both workers on links of 25 ms ± 5 ms and 0.5 % loss
/// (each chunk delayed, the lost ones by TCP's retransmission): every job once, one row
/// each, one model per pair, both workers up.
#[test]
fn a_train_and_forecast_run_over_links_of_25_ms_and_half_a_percent_loss() {
    const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "IBM"];
    let mut scenario = Scenario::new("wan");
    let control_fleet = scenario.lab.fleet(&scenario.env);
    let worker_fleets = [scenario.lab.fleet(&scenario.env), scenario.lab.fleet(&scenario.env)];
    let control = scenario.lab.host("ctl");
    set_up(&control, &control_fleet);
    let _collector = control.spawn(&control_fleet, "collector", &["run"]);
    let wan = LinkShape { latency: Duration::from_millis(25), jitter: Duration::from_millis(5), loss: 0.005 };
    let mut workers = Vec::new();
    for (k, fleet) in worker_fleets.iter().enumerate() {
        fleet.shape(Some(wan));
        let host = scenario.lab.host(&format!("w{k}"));
        let worker = host.spawn(fleet, "worker", &["run", "--concurrency", "1"]);
        worker.wait_for_log("worker started", Duration::from_secs(60));
        workers.push(worker);
    }

    train(&control, &control_fleet, &SYMBOLS);
    let forecast =
        run_ok(&control, &control_fleet, "producer", &["forecast", "--symbols=AAPL,MSFT,IBM", "--wait"]);
    assert_eq!(forecast.matches("predicted").count(), 3, "{forecast}");
    assert_eq!(
        scenario.env.query("select count(*), count(distinct job_id), count(*) filter (where status = 'succeeded') from training_runs"),
        "3|3|3"
    );
    assert_one_model_per_pair(&scenario.env, &SYMBOLS);
    let started = started_jobs(&workers.iter().collect::<Vec<_>>());
    assert!(started.values().all(|&starts| starts == 1), "every job started once: {started:?}");
    assert_eq!(started.len(), 6, "three trainings and three forecasts");
    for worker in &mut workers {
        assert!(worker.wait_exit(Duration::from_millis(200)).is_none(), "{} is up", worker.name);
    }
}

/// One worker on a link of 200 ms and 15 % loss both ways for the whole run, the other on a
/// clean one. A live worker there once had a heartbeat 11 s old: its job ran again elsewhere
/// and it exited on "worker not registered". Its heartbeat now has a connection of its own,
/// renewed when a beat goes unanswered: it keeps every job it takes and stays up.
#[test]
fn a_live_worker_on_a_link_of_200_ms_and_15_percent_loss_keeps_its_jobs() {
    const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "IBM", "GOOG"];
    let mut scenario = Scenario::new("lossy");
    let control_fleet = scenario.lab.fleet(&scenario.env);
    let (lossy_fleet, clean_fleet) = (scenario.lab.fleet(&scenario.env), scenario.lab.fleet(&scenario.env));
    let (control, lossy_host, clean_host) =
        (scenario.lab.host("ctl"), scenario.lab.host("lossy"), scenario.lab.host("clean"));
    set_up(&control, &control_fleet);
    let _collector = control.spawn(&control_fleet, "collector", &["run"]);
    let mut lossy = lossy_host.spawn(&lossy_fleet, "worker", &["run", "--concurrency", "1"]);
    lossy.wait_for_log("worker started", Duration::from_secs(60));
    let clean = clean_host.spawn(&clean_fleet, "worker", &["run", "--concurrency", "1"]);
    clean.wait_for_log("worker started", Duration::from_secs(60));

    lossy_fleet.shape(Some(LinkShape {
        latency: Duration::from_millis(200),
        jitter: Duration::ZERO,
        loss: 0.15,
    }));
    train(&control, &control_fleet, &SYMBOLS);
    lossy_fleet.shape(None);
    assert_eq!(
        scenario.env.query("select count(*), count(distinct job_id), count(*) filter (where status = 'succeeded') from training_runs"),
        "4|4|4"
    );
    assert_one_model_per_pair(&scenario.env, &SYMBOLS);
    let started = started_jobs(&[&lossy, &clean]);
    assert!(started.values().all(|&starts| starts == 1), "no job ran twice: {started:?}");
    let lossy_jobs = started_jobs(&[&lossy]).len();
    assert!(lossy_jobs >= 1, "the lossy worker ran jobs too:\n{}", lossy.log().join("\n"));
    println!("the worker on the lossy link ran {lossy_jobs} of 4 jobs");
    assert!(!lossy.log().iter().any(|line| line.contains("taken for dead")), "{}", lossy.log().join("\n"));
    assert!(lossy.wait_exit(Duration::from_millis(200)).is_none(), "the lossy worker is up");
}

/// The collector, on a host of its own, cut from Postgres for 60 s in the middle of a forecast
/// run: it holds its batch, reconnects by itself and writes every result once.
#[test]
fn a_collector_cut_from_postgres_for_60_seconds_mid_forecast_loses_nothing() {
    const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "IBM"];
    let mut scenario = Scenario::new("collectorcut");
    let (control_fleet, collector_fleet, worker_fleet) = (
        scenario.lab.fleet(&scenario.env),
        scenario.lab.fleet(&scenario.env),
        scenario.lab.fleet(&scenario.env),
    );
    let (control, collector_host, worker_host) =
        (scenario.lab.host("ctl"), scenario.lab.host("coll"), scenario.lab.host("w1"));
    set_up(&control, &control_fleet);
    let mut collector = collector_host.spawn(&collector_fleet, "collector", &["run"]);
    let worker = worker_host.spawn(&worker_fleet, "worker", &["run", "--concurrency", "2"]);
    worker.wait_for_log("worker started", Duration::from_secs(60));
    train(&control, &control_fleet, &SYMBOLS);

    collector_fleet.database.cut();
    let forecast = std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            run_ok(
                &control,
                &control_fleet,
                "producer",
                &["forecast", "--symbols=AAPL,MSFT,IBM", "--wait", "--timeout-secs=300"],
            )
        });
        std::thread::sleep(Duration::from_secs(60));
        collector_fleet.database.restore();
        run.join().expect("forecast thread")
    });
    assert_eq!(forecast.matches("predicted").count(), 3, "{forecast}");
    assert_eq!(scenario.env.query("select count(*), count(distinct job_id) from ml_forecasts"), "3|3");
    assert!(collector.wait_exit(Duration::from_millis(200)).is_none(), "the collector rode it out");
}

/// A worker frozen (SIGSTOP) for 40 s in the middle of a training job is taken for dead, and
/// another worker runs the job again. Woken up, the frozen worker used to finish, promote and
/// publish: the result row named its model, `latest.json` the other's (newer), and every
/// forecast used a model the row did not describe. Now the worker that holds the job at its
/// end is the one whose model is promoted and whose row is written; the woken one finds the
/// job gone and does neither. The row, `pair_latest` and `latest.json` name one model.
#[test]
fn a_frozen_workers_late_result_leaves_the_row_and_latest_json_on_one_model() {
    let mut scenario = Scenario::new("frozen");
    let fleet = scenario.lab.fleet(&scenario.env);
    let (control, frozen_host, other_host) =
        (scenario.lab.host("ctl"), scenario.lab.host("frozen"), scenario.lab.host("other"));
    set_up(&control, &fleet);
    let _collector = control.spawn(&fleet, "collector", &["run"]);
    let mut frozen = frozen_host.spawn(&fleet, "worker", &["run", "--concurrency", "1"]);
    frozen.wait_for_log("worker started", Duration::from_secs(60));
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| train(&control, &fleet, &["AAPL"]));
        frozen.wait_for_log("job started", Duration::from_secs(60));
        let stopped_at = std::time::Instant::now();
        frozen.signal("STOP");
        let other = other_host.spawn(&fleet, "worker", &["run", "--concurrency", "1"]);
        other.wait_for_log("job started", Duration::from_secs(60));
        std::thread::sleep(Duration::from_secs(40).saturating_sub(stopped_at.elapsed()));
        frozen.signal("CONT");
        producer.join().expect("producer thread");
        frozen.wait_for_log("taken over by another worker", Duration::from_secs(120));
        // Whatever the woken worker published is written before the rows are counted.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let queue = runtime.block_on(fleet::queue::Queue::connect(&scenario.env.queue_args())).unwrap();
        let drained = || runtime.block_on(fleet::queue::results::backlog(&queue)).unwrap() == 0;
        assert!(tests::eventually(Duration::from_secs(30), drained), "the collector wrote every result");
        let started = started_jobs(&[&frozen, &other]);
        assert_eq!(started.values().collect::<Vec<_>>(), [&2], "one job, started once by each");
    });
    assert_eq!(scenario.env.query("select count(*) from training_runs"), "1", "one row per job");
    assert_one_model_per_pair(&scenario.env, &["AAPL"]);
    recovered_or_failed_loudly(&mut frozen);
}

/// Whether a worker has said it takes no job for want of its store.
fn paused_for_store(worker: &Process) -> bool {
    worker.log().iter().any(|line| line.contains("takes no job until it reaches its store again"))
}

/// One worker reaches Redis but not Postgres or S3, the other reaches all three. The broken
/// worker used to spend every retry of the job it took (MSFT failed after 12 of 12 attempts,
/// all on it) while the healthy one sat idle. Now it hands its job back uncounted, stops
/// taking jobs and says why, in its log, its readiness and its metrics; the healthy worker
/// runs every job; the broken one takes jobs again once its store answers.
#[test]
fn a_worker_that_reaches_redis_but_not_s3_stops_taking_jobs_and_another_runs_them() {
    const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "IBM", "GOOG"];
    let mut scenario = Scenario::new("asymmetric");
    let (fleet, broken_fleet) = (scenario.lab.fleet(&scenario.env), scenario.lab.fleet(&scenario.env));
    let (control, broken_host, healthy_host) =
        (scenario.lab.host("ctl"), scenario.lab.host("broken"), scenario.lab.host("healthy"));
    set_up(&control, &fleet);
    let _collector = control.spawn(&fleet, "collector", &["run"]);
    broken_fleet.database.cut();
    broken_fleet.s3.cut();
    let broken = broken_host.spawn(&broken_fleet, "worker", &["run", "--concurrency", "2"]);
    broken.wait_for_log("worker started", Duration::from_secs(60));
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| train(&control, &fleet, &SYMBOLS));
        assert!(
            tests::eventually(Duration::from_secs(120), || paused_for_store(&broken)),
            "{}",
            broken.log().join("\n")
        );
        // Its metrics server listens on the host's own loopback: asked from inside the host.
        let addr = broken.metrics_addr();
        let ask = |path: &str| {
            let output = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &broken_host.namespace,
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                ])
                .arg(format!("http://{addr}{path}"))
                .output()
                .expect("curl runs");
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        assert_eq!(ask("/readyz"), "503", "not ready while paused");
        let healthy = healthy_host.spawn(&fleet, "worker", &["run", "--concurrency", "1"]);
        producer.join().expect("producer thread");
        let healthy_id = healthy.log().iter().find(|l| l.contains("worker started")).and_then(|l| {
            let json: serde_json::Value = serde_json::from_str(l).ok()?;
            json["fields"]["worker_id"].as_str().map(str::to_owned)
        });
        assert_eq!(
            scenario.env.query("select string_agg(distinct worker_id, ',') from training_runs"),
            healthy_id.expect("the healthy worker logged its id"),
            "the healthy worker ran every job"
        );
        // Its store back, the broken worker takes jobs again.
        broken_fleet.s3.restore();
        broken.wait_for_log("the artifact store answers again", Duration::from_secs(30));
        assert_eq!(ask("/readyz"), "200", "ready again");
    });
    assert_eq!(
        scenario
            .env
            .query("select count(*), count(*) filter (where status = 'succeeded') from training_runs"),
        "4|4",
        "no job failed for the broken worker's store"
    );
    assert!(!broken.log().iter().any(|l| l.contains("job failed")), "{}", broken.log().join("\n"));
}

/// Migrates the database and ingests the daily stocks, from `host`.
fn set_up(host: &Host, fleet: &LabFleet) {
    run_ok(host, fleet, "collector", &["migrate"]);
    let bars = data_dir().join("stocks-daily-2000-2013.csv.gz");
    run_ok(host, fleet, "producer", &["ingest", bars.to_str().unwrap()]);
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
    set_up(&control, &fleet);
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
