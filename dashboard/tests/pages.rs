//! Every page and API route on seeded results over real HTTP: on SQLite beside a SQLite
//! queue and a folder store, on Postgres (read as a read-only role) beside Redis and S3.
//! The whole fleet in a browser is `tests/dashboard.rs`.

use std::io::{Read, Write};

use chrono::{Duration, Utc};
use dashboard::Sources;
use fleet::config::{DatabaseConfig, QueueBackend, QueueConfig, S3Config, StoreConfig};
use fleet::database::Database;
use fleet::database::write::{ResultsWriter, row};
use fleet::lifecycle::PromotionPolicy;
use fleet::queue::Queue;
use fleet::store::ArtifactStore;
use ml_core::Timeframe;
use ml_core::ingest::BarSeries;
use ml_core::job::{
    ArtifactRef, JOB_SCHEMA_VERSION, Job, JobKind, JobResult, Outcome, Pair, Snapshot, TrainStatus,
};
use ml_core::model::{self, TrainConfig};
use uuid::Uuid;

const HOSTILE: &str = "<script>alert('owned')</script>";

use test_support::walk;

/// Two pairs: SEED with a trained model (in `store` too), FAIL with only a failed run whose
/// error is hostile; two jobs waiting in `queue`. Returns SEED's model version.
async fn seed(database: &Database, queue: &Queue, store: &ArtifactStore) -> String {
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
    store.put_model(manifest, &trained.bytes).await.unwrap();
    store.promote(manifest, &trained.bytes, &PromotionPolicy::default(), Duration::days(3650)).await.unwrap();
    let waiting: Vec<Job> = (0..2).map(|_| Job::new(Uuid::new_v4(), JobKind::Ping, None)).collect();
    queue.push(&waiting).await.unwrap();
    manifest.version.clone()
}

/// Serves the dashboard on a free port; its address.
async fn serve(sources: Sources) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, dashboard::router(sources)).await });
    addr
}

/// A response: status, headers (lowercase names) and body.
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

/// One request over plain HTTP/1.1, with extra header lines and a form body.
async fn request(addr: &str, method: &str, path: &str, headers: &[&str], body: &str) -> Reply {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{}\r\n{body}",
        body.len(),
        headers.iter().map(|h| format!("{h}\r\n")).collect::<String>()
    );
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let (headers, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        Reply { status, headers: headers.to_lowercase(), body: body.to_owned() }
    })
    .await
    .unwrap()
}

/// A GET: status and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let reply = request(addr, "GET", path, &[], "").await;
    (reply.status, reply.body)
}

/// Seeds `writer`'s database, `queue` and `store`, then serves `reader` (the same database,
/// or a read-only role's connection to it) beside them and checks every route.
async fn pages_on(writer: &Database, reader: Database, queue: QueueConfig, store: ArtifactStore) {
    let version = seed(writer, &Queue::connect(&queue).await.unwrap(), &store).await;
    let addr = serve(Sources::new(reader).with_queue(queue).with_store(store)).await;

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

    // The model's files, linked from its page and browsed in the store.
    let folder = format!("models/SEED/d1/{version}");
    assert!(model.contains("download manifest.json"), "the model page links its files: {model}");
    let (status, root) = get(&addr, "/artifacts").await;
    assert_eq!(status, 200, "{root}");
    assert!(root.contains(">models/<"), "the store's root lists its folders: {root}");
    let (status, versions) = get(&addr, "/artifacts?prefix=models%2FSEED%2Fd1").await;
    assert_eq!(status, 200, "{versions}");
    assert!(versions.contains(&format!(">{version}/<")) && versions.contains(">latest.json<"), "{versions}");
    let (_, listing) = get(&addr, &format!("/api/artifacts?prefix={folder}")).await;
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let files = listing["files"].as_array().expect("files");
    let sizes: Vec<u64> = files.iter().map(|f| f["size"].as_u64().expect("a size")).collect();
    assert_eq!(files.len(), 2, "manifest.json and model.bin: {listing}");
    assert!(sizes.iter().all(|size| *size > 0) && files.iter().all(|f| f["modified"].is_string()));
    let (status, shown) = get(&addr, &format!("/artifacts/file?key={folder}/manifest.json")).await;
    assert_eq!(status, 200, "{shown}");
    assert!(shown.contains("payload_sha256") && shown.contains(&version), "the manifest is shown: {shown}");
    let download =
        request(&addr, "GET", &format!("/artifacts/download?key={folder}/manifest.json"), &[], "").await;
    assert_eq!(download.status, 200);
    assert!(download.headers.contains("attachment; filename=\"manifest.json\""), "{}", download.headers);
    let manifest: model::artifact::Manifest = serde_json::from_str(&download.body).unwrap();
    assert_eq!(manifest.version, version, "the download is the stored manifest");
    assert_eq!(get(&addr, "/artifacts/file?key=models%2Fnone.json").await.0, 404);
    assert_eq!(
        get(&addr, "/artifacts/download?key=..%2F..%2Fetc%2Fpasswd").await.0,
        400,
        "no way out of the store"
    );

    // The queue: two jobs waiting, none dead, no action without a token.
    let (status, queue_page) = get(&addr, "/queue").await;
    assert_eq!(status, 200, "{queue_page}");
    assert!(queue_page.contains("No dead job") && queue_page.contains("Read-only"), "{queue_page}");
    let (_, depth) = get(&addr, "/api/queue").await;
    let depth: serde_json::Value = serde_json::from_str(&depth).unwrap();
    assert_eq!(
        (depth["depth"]["waiting"].as_u64(), depth["depth"]["dead"].as_u64()),
        (Some(2), Some(0)),
        "{depth}"
    );
    let retry = request(&addr, "POST", &format!("/api/queue/dead/{}/retry", Uuid::new_v4()), &[], "").await;
    assert_eq!(retry.status, 403, "a dashboard without DASHBOARD_TOKEN only reads: {}", retry.body);

    let (status, css) = get(&addr, "/assets/style.css").await;
    assert_eq!(status, 200);
    assert!(css.contains("table"), "the stylesheet is served from the binary");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_seeded_results_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let args = DatabaseConfig::sqlite(&dir.path().join("results.db"));
    let database = Database::connect(&args).await.unwrap();
    let queue = QueueConfig::sqlite(&dir.path().join("queue.db"), "boltfleet");
    let store = ArtifactStore::open(&StoreConfig::folder(&dir.path().join("artifacts"))).unwrap();
    pages_on(&database, database.clone(), queue, store).await;
}

/// The S3 store of `scripts/s3-server` (or the environment's), under a prefix of its own.
fn s3_store(prefix: &str) -> ArtifactStore {
    ArtifactStore::open(&test_support::s3_store(prefix)).unwrap()
}

/// With `DASHBOARD_TOKEN` set, an operator acts with the token (bearer, or the unlock
/// form's cookie) and nobody acts without it; the token never reaches a page or a cookie.
#[tokio::test(flavor = "multi_thread")]
async fn the_operator_token_guards_every_write_action() {
    let dir = tempfile::tempdir().unwrap();
    let args = DatabaseConfig::sqlite(&dir.path().join("results.db"));
    let database = Database::connect(&args).await.unwrap();
    database.migrate().await.unwrap();
    let queue = QueueConfig::sqlite(&dir.path().join("queue.db"), "boltfleet");
    let token = "op-token-5f1e";
    let addr = serve(
        Sources::new(database).with_queue(queue).with_token(dashboard::OperatorToken::new(token).unwrap()),
    )
    .await;
    let action = format!("/api/queue/dead/{}/delete", Uuid::new_v4());
    assert_eq!(request(&addr, "POST", &action, &[], "").await.status, 401, "no token");
    let wrong = request(&addr, "POST", &action, &["Authorization: Bearer nope"], "").await;
    assert_eq!(wrong.status, 401, "a wrong token");
    let right = request(&addr, "POST", &action, &[&format!("Authorization: Bearer {token}")], "").await;
    assert_eq!(right.status, 200, "{}", right.body);
    assert!(right.body.contains(r#""applied":false"#), "that job is not dead: {}", right.body);

    let (_, page) = get(&addr, "/queue").await;
    assert!(page.contains("Operator token") && !page.contains(token), "{page}");
    let refused = request(&addr, "POST", "/queue/unlock", &[], "token=guess").await;
    assert_eq!(refused.status, 401);
    let unlocked = request(&addr, "POST", "/queue/unlock", &[], &format!("token={token}")).await;
    assert_eq!(unlocked.status, 303, "back to the queue page");
    let cookie = unlocked
        .headers
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .expect("a cookie")
        .to_owned();
    assert!(
        !cookie.contains(token) && cookie.contains("samesite=strict") && cookie.contains("httponly"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let button = action.replace("/api", "");
    let from = |origin: &str| [format!("Cookie: {pair}"), format!("Origin: {origin}")];
    let [cookie, own] = from(&format!("http://{addr}"));
    let by_cookie = request(&addr, "POST", &button, &[&cookie, &own], "").await;
    assert_eq!(by_cookie.status, 303, "the page's button, with the cookie: {}", by_cookie.body);
    let [cookie, elsewhere] = from("http://127.0.0.1:1");
    let cross = request(&addr, "POST", &button, &[&cookie, &elsewhere], "").await;
    assert_eq!(cross.status, 401, "a page of another origin cannot use the cookie");
    let api = request(&addr, "POST", &action, &[&cookie, &own], "").await;
    assert_eq!(api.status, 401, "the API takes the bearer token only");
    let (_, unlocked_page) = get(&addr, "/queue").await;
    assert!(unlocked_page.contains("Operator token"), "without the cookie the form is still offered");
}

/// On Postgres the dashboard reads as `boltfleet_dashboard`, the role
/// `deploy/dashboard-role.sql` makes: every page works, and a write is refused.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_seeded_results_on_postgres_with_a_read_only_role() {
    let scratch = test_support::ScratchDatabase::reserve("dashboard");
    let args = scratch.config();
    Database::create_if_missing(&args).await.unwrap();
    let owner = Database::connect(&args).await.unwrap();
    owner.migrate().await.unwrap();
    let role_sql = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/dashboard-role.sql");
    let made = std::process::Command::new("psql")
        .args([args.url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-v", "password=read-only", "-f", role_sql])
        .status()
        .expect("psql runs");
    assert!(made.success(), "deploy/dashboard-role.sql applies");
    let reader_url = args.url.replacen("://postgres@", "://boltfleet_dashboard:read-only@", 1);
    assert_ne!(reader_url, args.url, "the test's URL names the postgres user");
    let reader = Database::connect(&DatabaseConfig { url: reader_url }).await.unwrap();
    let keys = test_support::ScratchRedis::new("dashboard");
    pages_on(&owner, reader.clone(), keys.queue(), s3_store(&keys.prefix)).await;
    let Database::Postgres(reader_pool) = &reader else { unreachable!("a Postgres pool") };
    let write = sqlx::query("delete from training_runs").execute(reader_pool).await;
    let refused = write.expect_err("the dashboard's role cannot write").to_string();
    assert!(refused.contains("permission denied"), "{refused}");
    reader.close().await;
    owner.close().await;
}

/// A database that is not there: the page says so, with 503, instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_down_gives_a_page_that_says_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args = DatabaseConfig { url: format!("postgres://postgres:secret-password@127.0.0.1:{port}/none") };
    let nothing_there = format!("127.0.0.1:{port}");
    let queue = QueueConfig {
        backend: QueueBackend::Redis(format!("redis://:secret-password@{nothing_there}")),
        prefix: "down".to_owned(),
        ..QueueConfig::default()
    };
    let store = ArtifactStore::open(&StoreConfig {
        artifacts_url: "s3://artifacts/down".to_owned(),
        s3: S3Config {
            endpoint_url: Some(format!("http://{nothing_there}")),
            access_key_id: Some("key".to_owned()),
            secret_access_key: Some("secret-password".to_owned()),
            region: "us-east-1".to_owned(),
        },
    })
    .unwrap();
    let sources =
        Sources::new(Database::connect_lazy(&args).await.unwrap()).with_queue(queue).with_store(store);
    let addr = serve(sources).await;
    for (path, service) in [("/", "results database"), ("/queue", "queue"), ("/artifacts", "artifact store")]
    {
        let (status, page) = get(&addr, path).await;
        assert_eq!(status, 503, "{path}: {page}");
        assert!(page.contains(&format!("The {service} did not answer")), "{path}: {page}");
        assert!(!page.contains("secret-password"), "no secret in a page");
    }
    let (status, json) = get(&addr, "/api/runs").await;
    assert_eq!(status, 503);
    assert!(json.contains("\"error\""), "{json}");
}
