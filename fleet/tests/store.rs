//! The artifact store's contract, on both backends: the local folder and a real S3 server
//! (SeaweedFS from `scripts/s3-server`, or whatever `AWS_ENDPOINT_URL` names).

use chrono::{DateTime, Duration, Utc};
use fleet::config::StoreConfig;
use fleet::lifecycle::{self, PromotionPolicy};
use fleet::store::{ArtifactStore, LatestMark, LatestPointer, Promotion, StoreError};
use ml_core::ingest::BarSeries;
use ml_core::job::Pair;
use ml_core::model::artifact::{Manifest, sha256_hex};
use ml_core::model::{self, TrainConfig, Trained};
use ml_core::{Bar, Timeframe};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

/// The model age limit of promotion in most of these tests: none of their models is near it.
const MAX_AGE: Duration = Duration::days(60);

fn s3_args(prefix: &str) -> StoreConfig {
    test_support::s3_store(prefix)
}

/// A mean-reverting walk: enough structure to train on, quickly.
fn bars(count: usize) -> Vec<Bar> {
    let start = DateTime::from_timestamp(1_500_000_000, 0).unwrap();
    let mut price: f64 = 100.0;
    (0..count)
        .map(|i| {
            let shock = ((i * 7919) % 101) as f64 / 101.0 - 0.5;
            let next = price * (1.0 + 0.02 * shock - 0.1 * (price / 100.0).ln());
            let bar = Bar {
                ts: start + Duration::days(i as i64),
                open: price,
                high: price.max(next) * 1.01,
                low: price.min(next) * 0.99,
                close: next,
                volume: 1000.0 + i as f64,
            };
            price = next;
            bar
        })
        .collect()
}

fn pair() -> Pair {
    Pair { symbol: "TEST".parse().unwrap(), timeframe: Timeframe::D1 }
}

fn trained(bars: &[Bar], created_at: DateTime<Utc>) -> Trained {
    let mut config = TrainConfig::for_timeframe(Timeframe::D1);
    config.forest.trees = 5;
    config.boosting.rounds = 5;
    config.threads = 1;
    let series = BarSeries { symbol: pair().symbol, timeframe: Timeframe::D1, bars: bars.to_vec() };
    model::train(&series, &config, created_at).expect("trains")
}

async fn contract(store: ArtifactStore) {
    let bars = bars(300);
    let parquet = ml_core::ingest::bars_to_parquet(&bars).unwrap();
    let snapshot = store.put_snapshot(&pair(), parquet.clone(), &bars).await.unwrap();
    assert!(
        snapshot.key.starts_with("bars/TEST/d1/") && snapshot.key.ends_with(".parquet"),
        "{}",
        snapshot.key
    );
    let again = store.put_snapshot(&pair(), parquet, &bars).await.unwrap();
    assert_eq!(again, snapshot, "the same bars are the same snapshot");
    assert_eq!(store.get_snapshot(&snapshot).await.unwrap(), bars);

    let mut wrong = snapshot.clone();
    wrong.sha256 = "0".repeat(64);
    assert!(matches!(store.get_snapshot(&wrong).await, Err(StoreError::Corrupt { .. })));
    wrong.key = "bars/TEST/d1/missing.parquet".to_owned();
    assert!(matches!(store.get_snapshot(&wrong).await, Err(StoreError::NotFound { .. })));

    // A forecast run's file of many pairs: one object, each pair's snapshot its own bars.
    let other = Pair { symbol: "OTHER".parse().unwrap(), timeframe: Timeframe::H1 };
    let pairs = vec![(pair(), bars[..200].to_vec()), (other.clone(), bars[100..].to_vec())];
    let parquet = ml_core::snapshot::encode_pairs(&pairs).unwrap();
    let shared = store.put_snapshot_of_pairs(parquet, &pairs).await.unwrap();
    assert!(shared[0].key.starts_with("bars/pairs/") && shared[0].key == shared[1].key, "{shared:?}");
    assert_eq!((shared[0].bars, shared[1].last_bar), (200, bars[299].ts));
    let file = store.get_snapshot_file(&shared[1]).await.unwrap();
    assert_eq!((file.of(&pair()), file.of(&other)), (Some(&bars[..200]), Some(&bars[100..])));
    assert!(
        matches!(store.get_snapshot(&shared[0]).await, Err(StoreError::Corrupt { .. })),
        "a training job cannot read a file of many pairs as its own"
    );

    assert_eq!(store.latest(&pair()).await.unwrap(), None, "no model yet");
    let now = Utc::now();
    let older = trained(&bars, now - Duration::hours(1));
    let newer = trained(&bars, now);
    let newer_manifest = &newer.artifact.manifest;
    let rule = PromotionPolicy::default();
    store.put_model(newer_manifest, &newer.bytes).await.unwrap();
    let promoted = store.promote(newer_manifest, &newer.bytes, &rule, MAX_AGE).await.unwrap();
    assert_eq!(promoted, Promotion::Promoted, "the first model becomes latest");
    let older_manifest = &older.artifact.manifest;
    store.put_model(older_manifest, &older.bytes).await.unwrap();
    assert_eq!(
        store.promote(older_manifest, &older.bytes, &rule, MAX_AGE).await.unwrap(),
        Promotion::Superseded { latest: newer_manifest.version.clone() },
        "an older model never replaces a newer one"
    );
    let latest = store.latest(&pair()).await.unwrap().expect("a latest pointer");
    assert_eq!(latest.version, newer_manifest.version);
    assert_eq!(
        (latest.payload_sha256.as_str(), latest.manifest_sha256.clone()),
        (newer_manifest.payload_sha256.as_str(), Some(sha256_hex(&newer.bytes.manifest))),
        "latest.json pins the promoted payload and manifest"
    );
    assert_eq!(store.get_payload(&pair(), &latest.version).await.unwrap(), newer.bytes.payload);
    let written_before_the_manifest_hash = serde_json::json!({
        "version": latest.version, "created_at": latest.created_at, "payload_sha256": latest.payload_sha256,
    });
    let read: LatestPointer = serde_json::from_value(written_before_the_manifest_hash).unwrap();
    assert_eq!(
        read,
        LatestPointer { manifest_sha256: None, ..latest.clone() },
        "an older pointer still reads"
    );
    let again = store.promote(newer_manifest, &newer.bytes, &rule, MAX_AGE).await.unwrap();
    assert_eq!(again, Promotion::Promoted, "promoting latest again is a no-op");

    // The promotion rule: a newer but worse model stays a candidate, unless within the tolerance.
    let third = trained(&bars, now + Duration::hours(1));
    let mut worse = third.artifact.manifest.clone();
    let incumbent_accuracy = newer_manifest.evaluation.ensemble.validation.accuracy.value;
    worse.evaluation.ensemble.validation.accuracy.value = incumbent_accuracy - 0.05;
    store.put_model(&worse, &third.bytes).await.unwrap();
    let Promotion::Candidate { reason } = store.promote(&worse, &third.bytes, &rule, MAX_AGE).await.unwrap()
    else {
        panic!("a worse model was promoted under not-worse");
    };
    assert!(reason.contains(&newer_manifest.version), "{reason}");
    assert_eq!(store.latest(&pair()).await.unwrap().unwrap().version, newer_manifest.version);
    // A pointer read before: unchanged, it comes back as it was (the store was asked only
    // whether it changed); moved, the new one comes.
    let seen = store.latest_since(&pair(), None).await.unwrap().expect("a latest pointer");
    assert_eq!(store.latest_since(&pair(), Some(&seen)).await.unwrap().as_ref(), Some(&seen));
    let lenient = PromotionPolicy { promotion_tolerance: 0.05, ..rule };
    let promoted = store.promote(&worse, &third.bytes, &lenient, MAX_AGE).await.unwrap();
    assert_eq!(promoted, Promotion::Promoted, "within the tolerance");
    let moved = store.latest_since(&pair(), Some(&seen)).await.unwrap().expect("a latest pointer");
    assert_eq!(moved.pointer.version, worse.version, "a promotion is seen by the next read");

    // An expired current model loses to any newer one, however poor. The current model is
    // dated an hour ahead (as this test's models are): a limit of minus two hours expires it.
    let fourth = trained(&bars, now + Duration::hours(2));
    let mut worst = fourth.artifact.manifest.clone();
    worst.evaluation.ensemble.validation.accuracy.value = 0.0;
    store.put_model(&worst, &fourth.bytes).await.unwrap();
    assert!(matches!(
        store.promote(&worst, &fourth.bytes, &rule, MAX_AGE).await.unwrap(),
        Promotion::Candidate { .. }
    ));
    let promoted = store.promote(&worst, &fourth.bytes, &rule, -Duration::hours(2)).await.unwrap();
    assert_eq!(promoted, Promotion::Promoted);

    let models = store.models(None, None).await.unwrap();
    let listed: Vec<(&str, bool)> = models
        .iter()
        .map(|model| (model.manifest.version.as_str(), model.latest == LatestMark::Latest))
        .collect();
    let versions = [&older_manifest.version, &newer_manifest.version, &worse.version, &worst.version];
    let expected: Vec<(&str, bool)> = versions.iter().map(|v| (v.as_str(), *v == &worst.version)).collect();
    assert_eq!(listed, expected, "oldest first, latest marked");
    assert_eq!(store.models(Some(&"OTHER".parse().unwrap()), None).await.unwrap().len(), 0);
    assert_eq!(store.models(Some(&pair().symbol), Some(Timeframe::H1)).await.unwrap().len(), 0);
    let read = store.manifest(&pair(), &older_manifest.version).await.unwrap();
    assert_eq!(
        (&read.version, &read.payload_sha256),
        (&older_manifest.version, &older_manifest.payload_sha256)
    );

    // Retention: the latest version is never deleted, whatever its age.
    assert!(matches!(store.delete_model(&pair(), &worst.version).await, Err(StoreError::Latest { .. })));
    for model in &models {
        if lifecycle::prunable(
            model.manifest.created_at,
            model.latest.may_be_latest(),
            now + Duration::days(1),
        ) {
            store.delete_model(&model.pair(), &model.manifest.version).await.unwrap();
        }
    }
    let keys = store.list("models").await.unwrap();
    assert_eq!(keys.len(), 3, "the latest version's two objects, and latest.json: {keys:?}");
    assert_eq!(store.manifest(&pair(), &worst.version).await.unwrap().version, worst.version);

    // Browsing, one level at a time, with sizes and times; reading a file by its key.
    let root = store.browse("").await.unwrap();
    assert_eq!(root.folders, ["bars", "models"], "{root:?}");
    assert!(root.files.is_empty());
    let model_dir = format!("models/TEST/d1/{}", worst.version);
    let versions = store.browse("models/TEST/d1/").await.unwrap();
    assert_eq!(versions.prefix, "models/TEST/d1");
    // A folder store keeps a pruned version's emptied directory; S3 has no directories.
    assert!(versions.folders.contains(&model_dir), "{versions:?}");
    assert_eq!(
        versions.files.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["models/TEST/d1/latest.json"]
    );
    let files = store.browse(&model_dir).await.unwrap();
    let manifest_key = format!("{model_dir}/manifest.json");
    let listed = files.files.iter().find(|f| f.key == manifest_key).expect("the manifest is listed");
    let bytes = store.read(&manifest_key).await.unwrap();
    assert_eq!(listed.size, bytes.len() as u64, "the listed size is the file's");
    assert!((Utc::now() - listed.modified).num_minutes().abs() < 10, "and its time is the write's");
    let read: Manifest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(read.version, worst.version);
    for bad in ["../secrets", "models//x", "models/./x", "models/\u{7}"] {
        let refused = store.read(bad).await.unwrap_err();
        assert!(matches!(refused, StoreError::BadKey { .. }), "{bad}: {refused}");
        assert!(store.browse(bad).await.is_err(), "{bad}");
    }
    assert!(matches!(store.read("models/none.json").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.read("").await, Err(StoreError::BadKey { .. })), "the root is no file");
    let info = store.file_info(&manifest_key).await.unwrap();
    assert_eq!((info.size, info.modified), (listed.size, listed.modified), "the head is the listing's");
    let (streamed, mut chunks) = store.read_stream(&manifest_key).await.unwrap();
    let mut whole = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
        whole.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!((streamed.size, whole.as_slice()), (listed.size, bytes.as_ref()), "the stream is the file");
    assert!(matches!(store.read_stream("models/none.json").await, Err(StoreError::NotFound { .. })));
    assert!(store.browse("nothing/here").await.unwrap().files.is_empty(), "an empty folder is empty");
}

/// One pair's unreadable `latest.json` hides nothing: the other pairs list as usual, and its
/// own versions say that nobody knows which is latest, so retention keeps them all.
#[tokio::test]
async fn an_unreadable_latest_pointer_marks_only_its_pair_and_protects_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(&StoreConfig::folder(dir.path())).unwrap();
    let now = Utc::now();
    let rule = PromotionPolicy::default();
    let broken = trained(&bars(300), now);
    let mut config = TrainConfig::for_timeframe(Timeframe::D1);
    (config.forest.trees, config.boosting.rounds, config.threads) = (5, 5, 1);
    let series = BarSeries { symbol: "OTHER".parse().unwrap(), timeframe: Timeframe::D1, bars: bars(300) };
    let healthy = model::train(&series, &config, now).unwrap();
    for model in [&broken, &healthy] {
        store.put_model(&model.artifact.manifest, &model.bytes).await.unwrap();
        store.promote(&model.artifact.manifest, &model.bytes, &rule, MAX_AGE).await.unwrap();
    }
    std::fs::write(dir.path().join("models/TEST/d1/latest.json"), b"{ not a pointer").unwrap();

    let models = store.models(None, None).await.expect("one bad pointer fails no listing");
    let marks: Vec<(&str, &LatestMark)> =
        models.iter().map(|m| (m.manifest.symbol.as_str(), &m.latest)).collect();
    assert_eq!(marks[0], ("OTHER", &LatestMark::Latest));
    assert!(
        matches!(marks[1], ("TEST", LatestMark::Unknown(reason)) if reason.contains("latest.json")),
        "{marks:?}"
    );
    assert!(!lifecycle::prunable(
        broken.artifact.manifest.created_at,
        models[1].latest.may_be_latest(),
        now + Duration::days(1)
    ));
}

#[tokio::test]
async fn the_local_folder_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(ArtifactStore::open(&StoreConfig::folder(dir.path())).unwrap()).await;
}

#[tokio::test]
async fn the_s3_store_keeps_the_contract() {
    let prefix = format!("store-test-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    contract(ArtifactStore::open(&s3_args(&prefix)).unwrap()).await;
}

/// `latest` is only safe if the server honours conditional PUTs: some S3 look-alikes ignore
/// them silently. This checks the server itself.
#[tokio::test]
async fn the_s3_server_honours_conditional_puts() {
    let settings = test_support::s3();
    let s3 = AmazonS3Builder::new()
        .with_bucket_name(test_support::env_or("TEST_S3_BUCKET", "artifacts"))
        .with_endpoint(settings.endpoint_url.unwrap())
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region(settings.region)
        .with_access_key_id(settings.access_key_id.unwrap())
        .with_secret_access_key(settings.secret_access_key.unwrap())
        .build()
        .unwrap();
    let path =
        Path::from(format!("conditional-test-{}/{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    let created = s3.put_opts(&path, "one".into(), PutOptions::from(PutMode::Create)).await.unwrap();
    let second = s3.put_opts(&path, "two".into(), PutOptions::from(PutMode::Create)).await;
    assert!(matches!(second, Err(object_store::Error::AlreadyExists { .. })), "{second:?}");
    let stale = UpdateVersion { e_tag: Some("\"not-the-etag\"".to_owned()), version: None };
    let update = s3.put_opts(&path, "three".into(), PutOptions::from(PutMode::Update(stale))).await;
    assert!(matches!(update, Err(object_store::Error::Precondition { .. })), "{update:?}");
    let current = UpdateVersion { e_tag: created.e_tag, version: created.version };
    s3.put_opts(&path, "four".into(), PutOptions::from(PutMode::Update(current))).await.unwrap();
    assert_eq!(s3.get(&path).await.unwrap().bytes().await.unwrap().as_ref(), b"four");
    s3.delete(&path).await.unwrap();
}

#[test]
fn a_store_url_that_cannot_work_is_refused_with_its_reason() {
    let mut args = s3_args("x");
    args.s3.secret_access_key = None;
    let error = ArtifactStore::open(&args).unwrap_err().to_string();
    assert!(error.contains("AWS_SECRET_ACCESS_KEY"), "{error}");
    args.artifacts_url = "ftp://host/x".to_owned();
    let error = ArtifactStore::open(&args).unwrap_err().to_string();
    assert!(error.contains("ftp") && error.contains("s3://"), "{error}");
}
