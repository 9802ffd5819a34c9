//! The dashboard on a fleet this test runs: `boltfleet demo` trains and forecasts two pairs of
//! real bars with no server, a real worker kills two poison jobs (one whose error carries a
//! `<script>`), and the `dashboard` binary serves the demo's data directory (`--data-dir`)
//! with an operator token. A real headless Chromium then walks it
//! (`dashboard/browser/dashboard.test.mjs`, playwright-core run by node's test runner, both
//! installed by `scripts/test`). Screenshots go to `target/tmp/dashboard-screenshots/`.

use std::process::Stdio;
use std::time::Duration;

use fleet::config::QueueConfig;
use fleet::queue::{Queue, RawJob};
use tests::{EmbeddedEnv, Process, TestFleet, data_dir, eventually};
use uuid::Uuid;

const TOKEN: &str = "browser-test-operator";
/// A job error that would run as script if a page forgot to escape it.
const HOSTILE_KIND: &str = "<script>alert('owned')</script>";

fn raw(payload: &[u8]) -> RawJob {
    RawJob { job_id: Uuid::new_v4(), payload: payload.to_vec(), idempotency_key: None }
}

#[test]
fn a_real_browser_walks_the_dashboard_of_a_fleet_this_test_trains() {
    let browser = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboard/browser");
    assert!(
        std::path::Path::new(browser).join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/test (npm ci --prefix dashboard/browser)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        std::path::Path::new(&chromium).is_file(),
        "no Chromium at {chromium}: run scripts/test (it installs Debian's chromium) or set CHROMIUM"
    );
    let env = EmbeddedEnv::new();
    let data = env.dir.path().to_str().unwrap().to_owned();
    let stocks = data_dir().join("stocks-daily-2000-2013.csv.gz");
    let demo = [
        "demo",
        "--data-dir",
        &data,
        "--symbols",
        "AAPL,MSFT",
        stocks.to_str().unwrap(),
        "--trees",
        "40",
        "--rounds",
        "20",
        "--walk-forward",
        "0",
    ];
    let mut command = tests::command("producer", &demo);
    for setting in ["DATABASE_URL", "REDIS_URL", "QUEUE_URL", "ARTIFACTS_URL", "AWS_ENDPOINT_URL"] {
        command.env_remove(setting);
    }
    let demo = tests::run(&mut command);
    assert!(demo.status.success(), "the demo runs:\n{}", String::from_utf8_lossy(&demo.stderr));

    // Two poison jobs, killed by a real worker: one to retry, one to delete from the page.
    let mut ping =
        serde_json::to_value(ml_core::job::Job::new(Uuid::new_v4(), ml_core::job::JobKind::Ping, None))
            .unwrap();
    ping["kind"] = HOSTILE_KIND.into();
    let poison = [raw(ping.to_string().as_bytes()), raw(b"not json {")];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue =
        runtime.block_on(Queue::connect(&QueueConfig::sqlite(&env.queue_file(), "boltfleet"))).unwrap();
    runtime.block_on(queue.push_raw(&poison)).unwrap();
    let mut worker = env.spawn("worker", &["run", "--concurrency", "1"]);
    let dead = eventually(Duration::from_secs(60), || {
        poison.iter().all(|job| runtime.block_on(queue.is_dead(job.job_id)).unwrap())
    });
    assert!(dead, "both poison jobs die; worker log:\n{}", worker.log().join("\n"));
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(30)).and_then(|s| s.code()), Some(0));
    let listed = runtime.block_on(queue.dead_jobs(10, 0)).unwrap();
    let hostile = listed.jobs.iter().find(|job| job.job_id == poison[0].job_id).expect("listed");
    assert!(
        hostile.error.as_deref().is_some_and(|error| error.contains(HOSTILE_KIND)),
        "the worker's error quotes the hostile text: {hostile:?}"
    );

    let mut command = tests::command("dashboard", &["--data-dir", &data, "--addr", "127.0.0.1:0"]);
    for setting in ["DATABASE_URL", "REDIS_URL", "QUEUE_URL", "ARTIFACTS_URL"] {
        command.env_remove(setting);
    }
    command
        .env("DASHBOARD_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let dashboard = Process::spawn("dashboard", &mut command);
    dashboard.wait_for_log("dashboard listening", Duration::from_secs(60));
    let log = dashboard.log().join("\n");
    assert!(!log.contains(TOKEN), "the token is never logged:\n{log}");
    let addr = dashboard
        .log()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["fields"]["message"] == "dashboard listening")
        .and_then(|line| line["fields"]["addr"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("the listening address is logged:\n{log}"));

    let shots = concat!(env!("CARGO_TARGET_TMPDIR"), "/dashboard-screenshots");
    std::fs::create_dir_all(shots).unwrap();
    let output = std::process::Command::new("node")
        .args(["--test", "dashboard.test.mjs"])
        .current_dir(browser)
        .env("DASHBOARD_URL", format!("http://{addr}"))
        .env("DASHBOARD_TOKEN", TOKEN)
        .env("SCREENSHOT_DIR", shots)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "the browser tests failed:\n{}\n{}\ndashboard log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        dashboard.log().join("\n")
    );
    for page in ["overview", "symbol", "model", "artifacts", "manifest", "queue", "runs"] {
        let shot = std::path::Path::new(shots).join(format!("{page}.png"));
        assert!(shot.is_file(), "a screenshot of the {page}");
    }
    // What the browser's operator did is what the queue now holds.
    assert!(!runtime.block_on(queue.is_dead(poison[0].job_id)).unwrap(), "the retried job left the dead");
    assert_eq!(runtime.block_on(queue.dead_jobs(10, 0)).unwrap().total, 0, "the other was deleted");
    assert_eq!(runtime.block_on(queue.depth()).unwrap().waiting, 1, "the retried job waits for a worker");
    let mut worker = env.spawn("worker", &["run", "--concurrency", "1"]);
    let dead_again =
        eventually(Duration::from_secs(60), || runtime.block_on(queue.is_dead(poison[0].job_id)).unwrap());
    assert!(dead_again, "a worker fetched the retried job and ran it (to its death again, as poison does)");
    worker.signal("TERM");
    assert_eq!(worker.wait_exit(Duration::from_secs(30)).and_then(|s| s.code()), Some(0));
}
