//! Every page and API route on seeded results, on Postgres and on SQLite, over real HTTP.

use std::io::{Read, Write};

use chrono::{Duration, Utc};
use fleet::config::DatabaseArgs;
use fleet::database::Database;
use fleet::database::write::{ResultsWriter, row};
use shared::ingest::BarSeries;
use shared::job::{ArtifactRef, JOB_SCHEMA_VERSION, JobResult, Outcome, Pair, Snapshot, TrainStatus};
use shared::model::{self, TrainConfig};
use shared::{Bar, Timeframe};
use uuid::Uuid;

const HOSTILE: &str = "<script>alert('owned')</script>";

/// A random walk (fixed seed) of daily bars.
fn walk(count: usize) -> Vec<Bar> {
    let start: chrono::DateTime<Utc> = "2021-01-04T00:00:00Z".parse().unwrap();
    let mut state = 7_u64;
    let mut close = 50.0_f64;
    (0..count)
        .map(|i| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let step = f64::from(u32::try_from(state >> 40).unwrap()) / f64::from(1_u32 << 24) - 0.5;
            close *= 1.0 + step * 0.04;
            Bar {
                ts: start + Duration::days(i64::try_from(i).unwrap()),
                open: close,
                high: close * 1.01,
                low: close * 0.99,
                close,
                volume: 10_000.0,
            }
        })
        .collect()
}

/// Two pairs: SEED with a trained model, FAIL with only a failed run whose error is hostile.
async fn seed(database: &Database) {
    database.migrate().await.unwrap();
    let pair = |symbol: &str| Pair { symbol: symbol.parse().unwrap(), timeframe: Timeframe::D1 };
    let mut config = TrainConfig::for_timeframe(Timeframe::D1);
    (config.forest.trees, config.boosting.rounds, config.threads) = (5, 5, 1);
    let series = BarSeries { symbol: pair("SEED").symbol, timeframe: Timeframe::D1, bars: walk(300) };
    for symbol in ["SEED", "FAIL"] {
        let bars = BarSeries { symbol: pair(symbol).symbol, ..series.clone() };
        database.upsert_bars(&bars, "dashboard test").await.unwrap();
    }
    let trained = model::train(&series, &config, Utc::now()).unwrap();
    let manifest = &trained.artifact.manifest;
    let snapshot =
        Snapshot { key: "bars/x".to_owned(), sha256: "ab".repeat(32), bars: 300, last_bar: Utc::now() };
    let result = |pair: Pair, status: TrainStatus| JobResult {
        schema_version: JOB_SCHEMA_VERSION,
        job_id: Uuid::new_v4(),
        run_id: Uuid::new_v4(),
        worker_id: None,
        started_at: Some(Utc::now() - Duration::seconds(4)),
        finished_at: Utc::now(),
        outcome: Outcome::Train { pair, snapshot: snapshot.clone(), config_sha256: "cd".repeat(32), status },
    };
    let results = [
        result(
            pair("SEED"),
            TrainStatus::Succeeded {
                artifact: ArtifactRef { uri: "file:///m".to_owned(), version: manifest.version.clone() },
                evaluation: Box::new(manifest.evaluation.clone()),
                promoted: true,
                promotion_note: None,
            },
        ),
        result(pair("FAIL"), TrainStatus::Failed { error: HOSTILE.to_owned() }),
    ];
    let rows: Vec<_> = results.iter().map(row).collect();
    let writer = ResultsWriter::new(database.clone());
    writer.insert(rows.iter().map(|(table, row)| (*table, row))).await.unwrap();
}

/// Serves the dashboard on a free port; its address.
async fn serve(database: Database) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, dashboard::router(database)).await });
    addr
}

/// A GET over plain HTTP/1.1: status and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let addr = addr.to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        (status, body)
    })
    .await
    .unwrap()
}

/// Seeds `writer`'s database, then serves `reader` (the same database, or a read-only role's
/// connection to it) and checks every route.
async fn pages_on(writer: &Database, reader: Database) {
    seed(writer).await;
    let addr = serve(reader).await;

    let (status, page) = get(&addr, "/").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("SEED") && page.contains("FAIL"), "both pairs listed: {page}");
    let (_, filtered) = get(&addr, "/?symbol=se&beats=&drift=no&sort=accuracy").await;
    assert!(
        filtered.contains("SEED") && !filtered.contains(">FAIL<"),
        "the filter in the URL applies: {filtered}"
    );
    assert!(filtered.contains(r#"value="se""#), "and is kept in the form");

    let (status, json) = get(&addr, "/api/overview?symbol=SEED").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["total"], 1);
    let accuracy = json["pairs"][0]["ensemble_accuracy"].as_f64().expect("the model's validation accuracy");
    assert!((0.0..=1.0).contains(&accuracy));
    assert!(json["pairs"][0]["majority_accuracy"].is_number(), "beside its baseline");

    let (status, runs) = get(&addr, "/runs").await;
    assert_eq!(status, 200);
    assert!(!runs.contains(HOSTILE), "a job's error is never markup");
    assert!(
        runs.contains("&lt;script&gt;alert('owned')&lt;/script&gt;")
            || runs.contains("&lt;script&gt;alert(&#39;owned&#39;)"),
        "it is shown as text: {runs}"
    );
    let (_, failed) = get(&addr, "/api/runs?status=failed").await;
    let failed: serde_json::Value = serde_json::from_str(&failed).unwrap();
    assert_eq!(failed["total"], 1);
    assert_eq!(failed["runs"][0]["error"], HOSTILE, "the API gives the text as it is");
    assert_eq!(failed["runs"][0]["status"], "failed");

    let failed_run = failed["runs"][0]["run_id"].as_str().expect("a run id").to_owned();
    let (status, run) = get(&addr, &format!("/run/{failed_run}")).await;
    assert_eq!(status, 200, "{run}");
    assert!(run.contains("FAIL") && !run.contains(HOSTILE), "the run's job, its error escaped: {run}");
    let (_, run_json) = get(&addr, &format!("/api/run/{failed_run}")).await;
    let run_json: serde_json::Value = serde_json::from_str(&run_json).unwrap();
    assert_eq!(run_json["training"].as_array().map(Vec::len), Some(1));
    assert_eq!(get(&addr, "/run/not-a-uuid").await.0, 400);

    let (status, symbol) = get(&addr, "/symbol/SEED").await;
    assert_eq!(status, 200, "{symbol}");
    assert!(
        symbol.contains("<svg") && symbol.matches("</path>").count() == 2,
        "the composite gauge is drawn: {symbol}"
    );
    assert!(symbol.contains("RF ") && symbol.contains("GB "), "the ensemble weights");
    let (status, weighed) = get(&addr, "/api/symbol/SEED?wb=1&ww=0&wl=0").await;
    assert_eq!(status, 200, "{weighed}");
    let weighed: serde_json::Value = serde_json::from_str(&weighed).unwrap();
    let timeframe = &weighed["timeframes"][0];
    let backtest = timeframe["summary"]["scores"]["backtest"]["value"].as_f64().expect("a backtest score");
    let composite = timeframe["composite"]["value"].as_f64().expect("a composite");
    assert!(
        (composite - backtest).abs() < 1e-12,
        "all the weight on the backtest: {composite} vs {backtest}"
    );
    assert_eq!(weighed["query"]["wb"], 1.0, "the weights are the URL's");
    assert_eq!(get(&addr, "/api/symbol/SEED?wb=0").await.0, 400, "a zero backtest weight is refused");
    assert_eq!(get(&addr, "/symbol/NOPE").await.0, 404, "a symbol without results");
    let (status, hostile) = get(&addr, "/symbol/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert_eq!(status, 400, "a symbol that is not one: {hostile}");
    assert!(
        !hostile.contains("<script>") && hostile.contains("&lt;script&gt;"),
        "and its text is escaped: {hostile}"
    );

    let (status, model) = get(&addr, "/pair/SEED/d1").await;
    assert_eq!(status, 200, "{model}");
    let history = model.split(r#"id="history""#).nth(1).expect("the history chart");
    assert!(history.contains("<circle") && history.contains("<polyline"), "it plots the run: {model}");
    assert!(
        model.contains("true ↓ / predicted →") && model.contains("precision"),
        "confusion and per-class tables"
    );
    assert!(
        model.contains(r#"id="reliability""#) && model.contains("buy and hold"),
        "reliability and backtest"
    );
    let (status, json) = get(&addr, "/api/pair/SEED/d1").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["history"].as_array().map(Vec::len), Some(1));
    assert!(json["evaluation"]["ensemble"]["validation"]["confusion"].is_array());
    assert_eq!(get(&addr, "/pair/SEED/h9").await.0, 400, "not a timeframe");
    assert_eq!(get(&addr, "/pair/FAIL/d1").await.0, 404, "no succeeded run");

    let (status, css) = get(&addr, "/assets/style.css").await;
    assert_eq!(status, 200);
    assert!(css.contains("table"), "the stylesheet is served from the binary");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_seeded_results_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let args = DatabaseArgs { database_url: fleet::config::sqlite_url(&dir.path().join("results.db")) };
    let database = Database::connect(&args).await.unwrap();
    pages_on(&database, database.clone()).await;
}

/// On Postgres the dashboard reads as `boltfleet_dashboard`, the role
/// `deploy/dashboard-role.sql` makes: every page works, and a write is refused.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_seeded_results_on_postgres_with_a_read_only_role() {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let (base, _) = server.rsplit_once('/').unwrap();
    let name = format!("bftest_dashboard_{}", std::process::id());
    let args = DatabaseArgs { database_url: format!("{base}/{name}") };
    let admin = Database::connect(&DatabaseArgs { database_url: server.clone() }).await.unwrap();
    let Database::Postgres(admin_pool) = &admin else { panic!("DATABASE_URL names a Postgres server") };
    let drop = format!("drop database if exists {name} with (force)");
    sqlx_execute(admin_pool, &drop).await;
    Database::create_if_missing(&args).await.unwrap();
    let owner = Database::connect(&args).await.unwrap();
    owner.migrate().await.unwrap();
    let role_sql = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/dashboard-role.sql");
    let made = std::process::Command::new("psql")
        .args([
            args.database_url.as_str(),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "password=read-only",
            "-f",
            role_sql,
        ])
        .status()
        .expect("psql runs");
    assert!(made.success(), "deploy/dashboard-role.sql applies");
    let reader_url = args.database_url.replacen("://postgres@", "://boltfleet_dashboard:read-only@", 1);
    assert_ne!(reader_url, args.database_url, "the test's URL names the postgres user");
    let reader = Database::connect(&DatabaseArgs { database_url: reader_url }).await.unwrap();
    pages_on(&owner, reader.clone()).await;
    let Database::Postgres(reader_pool) = &reader else { unreachable!("a Postgres pool") };
    let write = sqlx::query("delete from training_runs").execute(reader_pool).await;
    let refused = write.expect_err("the dashboard's role cannot write").to_string();
    assert!(refused.contains("permission denied"), "{refused}");
    reader.close().await;
    owner.close().await;
    sqlx_execute(admin_pool, &drop).await;
}

/// A database that is not there: the page says so, with 503, instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_down_gives_a_page_that_says_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args =
        DatabaseArgs { database_url: format!("postgres://postgres:secret-password@127.0.0.1:{port}/none") };
    let addr = serve(Database::connect_lazy(&args).await.unwrap()).await;
    let (status, page) = get(&addr, "/").await;
    assert_eq!(status, 503);
    assert!(page.contains("did not answer"), "{page}");
    assert!(!page.contains("secret-password"), "no secret in a page");
    let (status, json) = get(&addr, "/api/runs").await;
    assert_eq!(status, 503);
    assert!(json.contains("\"error\""), "{json}");
}

async fn sqlx_execute(pool: &sqlx::PgPool, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(pool).await.unwrap();
}

/// The pages in a real headless Chromium (`dashboard/browser/dashboard.test.mjs`, driven by
/// playwright-core from npm, run by node's test runner): the overview filtered from its form,
/// a symbol's weights changed in the page and the composite following, the model page's
/// charts drawn, a failed job's `<script>` error shown as text with no dialog, no request off
/// localhost, no console error. Screenshots go to `target/tmp/dashboard-screenshots/`.
/// `scripts/test` installs Chromium and playwright-core.
#[tokio::test(flavor = "multi_thread")]
async fn a_real_browser_filters_reweighs_draws_and_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let args = DatabaseArgs { database_url: fleet::config::sqlite_url(&dir.path().join("results.db")) };
    let database = Database::connect(&args).await.unwrap();
    seed(&database).await;
    let addr = serve(database).await;
    let browser = concat!(env!("CARGO_MANIFEST_DIR"), "/browser");
    let shots = concat!(env!("CARGO_TARGET_TMPDIR"), "/dashboard-screenshots");
    std::fs::create_dir_all(shots).unwrap();
    assert!(
        std::path::Path::new(browser).join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/test (npm ci --prefix dashboard/browser)"
    );
    let mut node = std::process::Command::new("node");
    node.args(["--test", "dashboard.test.mjs"])
        .current_dir(browser)
        .env("DASHBOARD_URL", format!("http://{addr}"))
        .env("SCREENSHOT_DIR", shots);
    let output = tokio::task::spawn_blocking(move || node.output().expect("node runs")).await.unwrap();
    assert!(
        output.status.success(),
        "the browser tests failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for page in ["overview", "symbol", "model", "runs"] {
        assert!(
            std::path::Path::new(shots).join(format!("{page}.png")).is_file(),
            "a screenshot of the {page}"
        );
    }
}
