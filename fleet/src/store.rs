//! The artifact store: bar snapshots and trained models in S3-compatible storage or a local
//! folder, through `object_store`.
//!
//! Layout under the store's root (`ARTIFACTS_URL`):
//! - `bars/{symbol}/{tf}/{sha256}.parquet`: one pair's snapshots (a training job's),
//!   content-addressed, written once.
//! - `bars/pairs/{sha256}.parquet`: snapshots of many pairs at once (a forecast run's), the same.
//! - `models/{symbol}/{tf}/{version}/manifest.json` and `model.bin`: one trained model.
//! - `models/{symbol}/{tf}/latest.json`: the pointer forecasts follow. It moves only after
//!   both objects of a version are stored, with a conditional PUT, and never to an older model.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ml_core::job::{Pair, Snapshot};
use ml_core::model::artifact::{Artifact, ArtifactBytes, Manifest, sha256_hex};
use ml_core::snapshot::{SnapshotBars, SnapshotError};
use ml_core::{Symbol, Timeframe};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    UpdateVersion,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::StoreConfig;
use crate::lifecycle::{PromotionPolicy, check_age};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const PAYLOAD_FILE: &str = "model.bin";
const LATEST_FILE: &str = "latest.json";
/// How often a contended `latest` update is re-read and tried again.
const LATEST_ATTEMPTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ARTIFACTS_URL {url:?}: {problem}")]
    Config { url: String, problem: String },
    #[error("object store {operation} of {key} failed")]
    Unavailable {
        operation: &'static str,
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{key} is not in the store")]
    NotFound { key: String },
    #[error("{key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("latest pointer of {pair} still contended after {LATEST_ATTEMPTS} attempts")]
    Contended { pair: String },
    #[error("{key:?} is not a key of the store: a part is empty, `.`, `..` or holds a control character")]
    BadKey { key: String },
    #[error("model {version} of {pair} is latest: it is never deleted")]
    Latest { pair: String, version: String },
}

impl StoreError {
    /// A server or network problem may pass; a missing or corrupt object will not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Contended { .. })
    }

    /// The store did not answer (or failed): the server or the way to it is down, which
    /// other clients of the store may not share. A contended pointer is the store working.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A folder of the store, one level deep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Folder {
    /// The folder's key, `""` for the root.
    pub prefix: String,
    /// Keys of its sub-folders.
    pub folders: Vec<String>,
    pub files: Vec<StoredFile>,
}

/// A file of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFile {
    pub key: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// A key a reader gave, refused if a part of it is empty, `.` or `..` (a folder store must
/// not be walked out of) or holds a character object stores escape.
fn checked_key(key: &str) -> Result<&str, StoreError> {
    let bad_part = |part: &str| {
        part.is_empty() || part == "." || part == ".." || part.chars().any(|c| c.is_control() || c == '\\')
    };
    if !key.is_empty() && key.split('/').any(bad_part) {
        return Err(StoreError::BadKey { key: key.to_owned() });
    }
    Ok(key)
}

/// A file's bytes as they arrive from the store.
pub type ByteStream = futures_util::stream::BoxStream<'static, Result<Bytes, StoreError>>;

/// A key that must name a file: [`checked_key`], and not the root.
fn checked_file_key(key: &str) -> Result<&str, StoreError> {
    if key.is_empty() {
        return Err(StoreError::BadKey { key: String::new() });
    }
    checked_key(key)
}

/// What `latest.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestPointer {
    pub version: String,
    pub created_at: DateTime<Utc>,
    /// The hash of the version's `model.bin`: a forecast reads the payload alone, checked
    /// against it.
    pub payload_sha256: String,
    /// The hash of the version's `manifest.json` as stored. No reader checks it since
    /// forecasts read the payload alone (the promotion rule's judge and the dashboard read
    /// the manifest unchecked): it stays so that one can. Pointers written before it carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

/// A `latest.json` as read, with the state of the object it was read from: a later read
/// asks whether it changed since, a write that it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPointer {
    pub pointer: LatestPointer,
    update: UpdateVersion,
}

/// What [`ArtifactStore::promote`] did with a new model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promotion {
    /// `latest` points at it.
    Promoted,
    /// `latest` already points at a newer model.
    Superseded { latest: String },
    /// The promotion rule kept the current model; the new one stays stored as a candidate.
    Candidate { reason: String },
}

/// A complete model version in the store.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub manifest: Manifest,
    pub latest: LatestMark,
}

/// Whether a stored version is the one its pair's `latest.json` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatestMark {
    Latest,
    Older,
    /// The pair's `latest.json` cannot be read (why): any of its versions may be the one.
    Unknown(String),
}

impl LatestMark {
    /// What retention must assume: a version is kept unless it is known not to be latest.
    pub fn may_be_latest(&self) -> bool {
        !matches!(self, Self::Older)
    }
}

impl StoredModel {
    pub fn pair(&self) -> Pair {
        Pair { symbol: self.manifest.symbol.clone(), timeframe: self.manifest.timeframe }
    }
}

/// The store, rooted at `ARTIFACTS_URL`.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    url: String,
    /// S3 and MinIO compare-and-swap on ETags; a local folder cannot, and overwrites
    /// (atomically, by rename), which is safe for the processes of one machine.
    compare_and_swap: bool,
}

impl ArtifactStore {
    pub fn open(args: &StoreConfig) -> Result<Self, StoreError> {
        let url_text = args.artifacts_url.trim_end_matches('/').to_owned();
        let config_error = |problem: String| StoreError::Config { url: url_text.clone(), problem };
        let url = Url::parse(&url_text).map_err(|e| config_error(e.to_string()))?;
        let root = Path::from(url.path().trim_matches('/'));
        match url.scheme() {
            "file" => {
                let dir = std::path::PathBuf::from(url.path());
                std::fs::create_dir_all(&dir)
                    .map_err(|e| config_error(format!("cannot create {}: {e}", dir.display())))?;
                let store =
                    LocalFileSystem::new_with_prefix(&dir).map_err(|e| config_error(e.to_string()))?;
                Ok(Self {
                    store: Arc::new(store),
                    root: Path::default(),
                    url: url_text,
                    compare_and_swap: false,
                })
            }
            "s3" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| config_error("names no bucket: use s3://bucket[/prefix]".to_owned()))?;
                let (Some(key_id), Some(secret)) = (&args.s3.access_key_id, &args.s3.secret_access_key)
                else {
                    return Err(config_error(
                        "is on S3 but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set"
                            .to_owned(),
                    ));
                };
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&args.s3.region)
                    .with_access_key_id(key_id)
                    .with_secret_access_key(secret)
                    .with_client_options(
                        ClientOptions::new()
                            .with_connect_timeout(Duration::from_secs(5))
                            .with_timeout(Duration::from_secs(60)),
                    )
                    // A dead server fails a job in seconds (the queue retries it), not minutes.
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(15),
                        ..RetryConfig::default()
                    });
                if let Some(endpoint) = &args.s3.endpoint_url {
                    // Local servers (MinIO, SeaweedFS) use path-style addressing and often HTTP.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(true)
                        .with_virtual_hosted_style_request(false);
                }
                let store = builder.build().map_err(|e| config_error(e.to_string()))?;
                Ok(Self { store: Arc::new(store), root, url: url_text, compare_and_swap: true })
            }
            other => Err(config_error(format!("scheme {other}: is not s3:// or file://"))),
        }
    }

    /// `ARTIFACTS_URL` as given, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, key: &str) -> Path {
        key.split('/').fold(self.root.clone(), |path, part| path.join(part))
    }

    /// Stores bars (Parquet) under their content hash; storing the same bytes again is a no-op.
    pub async fn put_snapshot(
        &self,
        pair: &Pair,
        parquet: Vec<u8>,
        bars: &[ml_core::Bar],
    ) -> Result<Snapshot, StoreError> {
        let sha256 = sha256_hex(&parquet);
        let key = format!("bars/{}/{}/{sha256}.parquet", pair.symbol.path_segment(), pair.timeframe);
        self.put_once(&key, parquet.into()).await?;
        let last_bar = bars.last().map(|b| b.ts).unwrap_or_default();
        Ok(Snapshot { key, sha256, bars: bars.len(), last_bar })
    }

    /// Stores many pairs' bars as one snapshot (Parquet of [`ml_core::snapshot::encode_pairs`])
    /// under its content hash; each pair's [`Snapshot`] names the file and its own bars.
    pub async fn put_snapshot_of_pairs(
        &self,
        parquet: Vec<u8>,
        pairs: &[(Pair, Vec<ml_core::Bar>)],
    ) -> Result<Vec<Snapshot>, StoreError> {
        let sha256 = sha256_hex(&parquet);
        let key = format!("bars/pairs/{sha256}.parquet");
        self.put_once(&key, parquet.into()).await?;
        Ok(pairs
            .iter()
            .map(|(_, bars)| Snapshot {
                key: key.clone(),
                sha256: sha256.clone(),
                bars: bars.len(),
                last_bar: bars.last().map(|b| b.ts).unwrap_or_default(),
            })
            .collect())
    }

    /// The bars of a one-pair snapshot, checked against the hash in its name.
    pub async fn get_snapshot(&self, snapshot: &Snapshot) -> Result<Vec<ml_core::Bar>, StoreError> {
        self.get_snapshot_with(snapshot, ml_core::snapshot::decode).await
    }

    /// A snapshot file of either layout, checked against the hash in its name.
    pub async fn get_snapshot_file(&self, snapshot: &Snapshot) -> Result<SnapshotBars, StoreError> {
        self.get_snapshot_with(snapshot, ml_core::snapshot::decode_file).await
    }

    async fn get_snapshot_with<T: Send + 'static>(
        &self,
        snapshot: &Snapshot,
        decode: fn(&[u8]) -> Result<T, SnapshotError>,
    ) -> Result<T, StoreError> {
        let bytes = self.get(&snapshot.key).await?;
        // Hashing and decoding (Parquet, checks on every bar) are CPU work, on files of up to
        // 50,000 bars: off the async runtime.
        let expected = snapshot.sha256.clone();
        let decoded = tokio::task::spawn_blocking(move || {
            let actual = sha256_hex(&bytes);
            if actual != expected {
                return Err(format!("sha256 is {actual}, the job expects {expected}"));
            }
            decode(&bytes).map_err(|e| e.to_string())
        })
        .await;
        let corrupt = |detail: String| StoreError::Corrupt { key: snapshot.key.clone(), detail };
        match decoded {
            Ok(bars) => bars.map_err(corrupt),
            Err(panicked) => Err(corrupt(format!("its decoding panicked: {panicked}"))),
        }
    }

    /// The key of `file` in a pair's models folder: a version's folder, or `latest.json`.
    pub fn model_key(pair: &Pair, file: &str) -> String {
        format!("models/{}/{}/{file}", pair.symbol.path_segment(), pair.timeframe)
    }

    /// Stores a model's payload, then its manifest; returns the version's URI.
    pub async fn put_model(&self, manifest: &Manifest, bytes: &ArtifactBytes) -> Result<String, StoreError> {
        let pair = Pair { symbol: manifest.symbol.clone(), timeframe: manifest.timeframe };
        let dir = Self::model_key(&pair, &manifest.version);
        // The manifest goes last: a version with a manifest is complete.
        self.put_once(&format!("{dir}/{PAYLOAD_FILE}"), bytes.payload.clone().into()).await?;
        self.put_once(&format!("{dir}/{MANIFEST_FILE}"), bytes.manifest.clone().into()).await?;
        Ok(format!("{}/{dir}/", self.url))
    }

    /// Points `latest` at the model (`bytes` as [`Self::put_model`] stored them) unless a
    /// newer one is already there or the promotion rule prefers the current one. A current
    /// model older than `max_model_age` (which forecasts refuse) never wins.
    pub async fn promote(
        &self,
        manifest: &Manifest,
        bytes: &ArtifactBytes,
        rule: &PromotionPolicy,
        max_model_age: chrono::Duration,
    ) -> Result<Promotion, StoreError> {
        let pair = Pair { symbol: manifest.symbol.clone(), timeframe: manifest.timeframe };
        let key = Self::model_key(&pair, LATEST_FILE);
        let pointer = LatestPointer {
            version: manifest.version.clone(),
            created_at: manifest.created_at,
            payload_sha256: manifest.payload_sha256.clone(),
            manifest_sha256: Some(sha256_hex(&bytes.manifest)),
        };
        let body = serde_json::to_vec_pretty(&pointer).expect("a pointer serialises");
        for _ in 0..LATEST_ATTEMPTS {
            let mode = match self.read_latest(&key, None).await? {
                // A retried job finds its own model already promoted.
                Some(ReadPointer { pointer: current, .. }) if current.version == pointer.version => {
                    return Ok(Promotion::Promoted);
                }
                Some(ReadPointer { pointer: current, .. })
                    if (current.created_at, &current.version) > (pointer.created_at, &pointer.version) =>
                {
                    return Ok(Promotion::Superseded { latest: current.version });
                }
                Some(ReadPointer { pointer: current, update }) => {
                    let expired =
                        check_age(&current.version, current.created_at, Utc::now(), max_model_age).is_err();
                    if !expired
                        && let Err(reason) = self.judge(manifest, &pair, &current.version, rule).await?
                    {
                        return Ok(Promotion::Candidate { reason });
                    }
                    if self.compare_and_swap { PutMode::Update(update) } else { PutMode::Overwrite }
                }
                None => PutMode::Create,
            };
            let put = self
                .store
                .put_opts(&self.path(&key), PutPayload::from(body.clone()), PutOptions::from(mode))
                .await;
            match put {
                Ok(_) => return Ok(Promotion::Promoted),
                // Another worker moved it between our read and write: read again.
                Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                }
                Err(source) => return Err(StoreError::Unavailable { operation: "put", key, source }),
            }
        }
        Err(StoreError::Contended { pair: pair.to_string() })
    }

    /// The promotion rule's verdict against the current model. A current model whose
    /// manifest is gone or unreadable cannot be defended: the candidate replaces it.
    async fn judge(
        &self,
        candidate: &Manifest,
        pair: &Pair,
        incumbent_version: &str,
        rule: &PromotionPolicy,
    ) -> Result<Result<(), String>, StoreError> {
        match self.manifest(pair, incumbent_version).await {
            Ok(incumbent) => Ok(rule.judge(&candidate.evaluation, &incumbent.evaluation, incumbent_version)),
            Err(error) if error.is_retryable() => Err(error),
            Err(error) => {
                tracing::warn!(%pair, error = %error, "the current model's manifest is unreadable; replacing it");
                Ok(Ok(()))
            }
        }
    }

    /// The pointer at `key`, if there is one; `seen` when it is still what `seen` read (a
    /// conditional GET: the store answers without the object).
    async fn read_latest(
        &self,
        key: &str,
        seen: Option<&ReadPointer>,
    ) -> Result<Option<ReadPointer>, StoreError> {
        let if_none_match = seen.and_then(|seen| seen.update.e_tag.clone());
        let options = GetOptions { if_none_match, ..GetOptions::default() };
        let unavailable = |source| StoreError::Unavailable { operation: "get", key: key.to_owned(), source };
        let result = match self.store.get_opts(&self.path(key), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotModified { .. }) => return Ok(seen.cloned()),
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(unavailable(source)),
        };
        let update = UpdateVersion { e_tag: result.meta.e_tag.clone(), version: result.meta.version.clone() };
        let bytes = result.bytes().await.map_err(unavailable)?;
        let pointer = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { key: key.to_owned(), detail: e.to_string() })?;
        Ok(Some(ReadPointer { pointer, update }))
    }

    /// The pair's `latest` pointer, if it has a model.
    pub async fn latest(&self, pair: &Pair) -> Result<Option<LatestPointer>, StoreError> {
        Ok(self.latest_since(pair, None).await?.map(|read| read.pointer))
    }

    /// The pair's `latest` pointer as [`Self::latest`] reads it, or `seen` if it has not moved
    /// since `seen` was read: a reader that keeps what it read asks only whether it changed,
    /// which costs the store less than the object (a third less CPU on SeaweedFS,
    /// docs/benchmarks.md).
    pub async fn latest_since(
        &self,
        pair: &Pair,
        seen: Option<&ReadPointer>,
    ) -> Result<Option<ReadPointer>, StoreError> {
        self.read_latest(&Self::model_key(pair, LATEST_FILE), seen).await
    }

    /// A stored model version's payload, unchecked: the caller checks it against the hash
    /// that vouches for it as it decodes it (`ml_core::model::artifact::decode_payload`).
    pub async fn get_payload(&self, pair: &Pair, version: &str) -> Result<Bytes, StoreError> {
        self.get(&format!("{}/{PAYLOAD_FILE}", Self::model_key(pair, version))).await
    }

    /// A stored model version's manifest.
    pub async fn manifest(&self, pair: &Pair, version: &str) -> Result<Manifest, StoreError> {
        let key = format!("{}/{MANIFEST_FILE}", Self::model_key(pair, version));
        let bytes = self.get(&key).await?;
        Artifact::read_manifest(&bytes).map_err(|e| StoreError::Corrupt { key, detail: e.to_string() })
    }

    /// Every complete model version (one with a manifest) of the pairs matching the filter,
    /// oldest first per pair, each marked if `latest` points at it.
    pub async fn models(
        &self,
        symbol: Option<&Symbol>,
        timeframe: Option<Timeframe>,
    ) -> Result<Vec<StoredModel>, StoreError> {
        let prefix = match (symbol, timeframe) {
            (Some(symbol), Some(timeframe)) => format!("models/{}/{timeframe}", symbol.path_segment()),
            (Some(symbol), None) => format!("models/{}", symbol.path_segment()),
            (None, _) => "models".to_owned(),
        };
        let keys = self.list(&prefix).await?;
        let mut models = Vec::new();
        for key in keys.iter().filter(|key| key.ends_with(&format!("/{MANIFEST_FILE}"))) {
            // One unreadable or just-deleted version must not hide the others.
            let bytes = match self.get(key).await {
                Ok(bytes) => bytes,
                Err(StoreError::NotFound { .. }) => continue,
                Err(error) => return Err(error),
            };
            let manifest = match Artifact::read_manifest(&bytes) {
                Ok(manifest) => manifest,
                Err(error) => {
                    tracing::warn!(key, error = %error, "unreadable manifest skipped");
                    continue;
                }
            };
            if timeframe.is_some_and(|timeframe| timeframe != manifest.timeframe) {
                continue;
            }
            models.push(StoredModel { latest: LatestMark::Older, manifest });
        }
        models.sort_by_key(|model| (model.pair(), model.manifest.created_at));
        let mut latest_of_pair: std::collections::HashMap<Pair, Result<Option<String>, String>> =
            std::collections::HashMap::new();
        for model in &mut models {
            let pair = model.pair();
            if !latest_of_pair.contains_key(&pair) {
                // An outage fails the listing; one pair's unreadable pointer marks only its
                // own versions.
                let latest = match self.latest(&pair).await {
                    Ok(pointer) => Ok(pointer.map(|pointer| pointer.version)),
                    Err(error) if error.is_retryable() => return Err(error),
                    Err(error) => {
                        tracing::warn!(%pair, error = %error, "unreadable latest pointer");
                        Err(error.to_string())
                    }
                };
                latest_of_pair.insert(pair.clone(), latest);
            }
            model.latest = match &latest_of_pair[&pair] {
                Ok(Some(version)) if *version == model.manifest.version => LatestMark::Latest,
                Ok(_) => LatestMark::Older,
                Err(reason) => LatestMark::Unknown(reason.clone()),
            };
        }
        Ok(models)
    }

    /// Deletes a model version, payload first: if the manifest's delete fails, the version
    /// is still listed and the next prune deletes it. Refuses the version `latest` points at,
    /// checked just before deleting.
    pub async fn delete_model(&self, pair: &Pair, version: &str) -> Result<(), StoreError> {
        if self.latest(pair).await?.is_some_and(|latest| latest.version == version) {
            return Err(StoreError::Latest { pair: pair.to_string(), version: version.to_owned() });
        }
        let dir = Self::model_key(pair, version);
        for file in [PAYLOAD_FILE, MANIFEST_FILE] {
            let key = format!("{dir}/{file}");
            match self.store.delete(&self.path(&key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => return Err(StoreError::Unavailable { operation: "delete", key, source }),
            }
        }
        Ok(())
    }

    /// Writes an object that must never change: a second write of the same key is accepted
    /// only because keys are content hashes or unique versions.
    async fn put_once(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        let options = PutOptions::from(PutMode::Create);
        match self.store.put_opts(&self.path(key), PutPayload::from(bytes), options).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(source) => Err(StoreError::Unavailable { operation: "put", key: key.to_owned(), source }),
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let unavailable = |source| StoreError::Unavailable { operation: "get", key: key.to_owned(), source };
        match self.store.get(&self.path(key)).await {
            Ok(result) => result.bytes().await.map_err(unavailable),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound { key: key.to_owned() }),
            Err(source) => Err(unavailable(source)),
        }
    }

    /// One level of a folder of the store: its sub-folders and its files with their sizes
    /// and times, for browsing. `prefix` is a folder's key (`models/AAPL`), `""` the root.
    pub async fn browse(&self, prefix: &str) -> Result<Folder, StoreError> {
        let prefix = checked_key(prefix.trim_matches('/'))?;
        let path = if prefix.is_empty() { self.root.clone() } else { self.path(prefix) };
        let root = self.root.as_ref().len();
        let relative = |location: &Path| location.as_ref()[root..].trim_start_matches('/').to_owned();
        let listing = self.store.list_with_delimiter(Some(&path)).await.map_err(|source| {
            StoreError::Unavailable { operation: "list", key: prefix.to_owned(), source }
        })?;
        let mut folders: Vec<String> = listing.common_prefixes.iter().map(relative).collect();
        let mut files: Vec<StoredFile> = listing
            .objects
            .iter()
            .map(|meta| StoredFile {
                key: relative(&meta.location),
                size: meta.size,
                modified: meta.last_modified,
            })
            .collect();
        folders.sort();
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Folder { prefix: prefix.to_owned(), folders, files })
    }

    /// The bytes of the file at `key` (relative to the root), as stored.
    pub async fn read(&self, key: &str) -> Result<Bytes, StoreError> {
        self.get(checked_file_key(key)?).await
    }

    /// A file's size and time, without reading it.
    pub async fn file_info(&self, key: &str) -> Result<StoredFile, StoreError> {
        let key = checked_file_key(key)?;
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(StoredFile { key: key.to_owned(), size: meta.size, modified: meta.last_modified }),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound { key: key.to_owned() }),
            Err(source) => Err(StoreError::Unavailable { operation: "head", key: key.to_owned(), source }),
        }
    }

    /// The file at `key` as a stream of its bytes, for a download of any size that holds no
    /// more than a chunk in memory.
    pub async fn read_stream(&self, key: &str) -> Result<(StoredFile, ByteStream), StoreError> {
        use futures_util::StreamExt;
        let key = checked_file_key(key)?.to_owned();
        let unavailable = |key: &str| {
            let key = key.to_owned();
            move |source| StoreError::Unavailable { operation: "get", key, source }
        };
        let result = match self.store.get(&self.path(&key)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(StoreError::NotFound { key }),
            Err(source) => return Err(unavailable(&key)(source)),
        };
        let file =
            StoredFile { key: key.clone(), size: result.meta.size, modified: result.meta.last_modified };
        let stream = result.into_stream().map(move |chunk| chunk.map_err(unavailable(&key))).boxed();
        Ok((file, stream))
    }

    /// Every key under a prefix (relative to the root), for tests and listings.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        use futures_util::TryStreamExt;
        let root = self.root.as_ref().len();
        let metas: Vec<_> =
            self.store.list(Some(&self.path(prefix))).try_collect().await.map_err(|source| {
                StoreError::Unavailable { operation: "list", key: prefix.to_owned(), source }
            })?;
        let mut keys: Vec<String> = metas
            .into_iter()
            .map(|meta| meta.location.as_ref()[root..].trim_start_matches('/').to_owned())
            .collect();
        keys.sort();
        Ok(keys)
    }
}
