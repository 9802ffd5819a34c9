//! The artifact: what a training run leaves behind, in place of the original's pickles.
//!
//! Two blobs. The **manifest** is pretty JSON anyone can read without the model: versions,
//! hyper-parameters, weights, the whole evaluation, the training data's range and hash. The
//! **payload** holds what prediction needs (fitted models, weights, feature names, label
//! config): `MAGIC`, the format version as 4 little-endian bytes, then gzip of postcard. The
//! manifest carries the payload's sha256, and so does the `latest.json` that promotes it (a
//! forecast reads the payload alone: [`decode_payload`]); it is checked before anything is
//! decoded. A payload from a newer format is refused by its header, never misread.

use std::io::Read;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::boosting::Boosting;
use super::ensemble::EnsembleRule;
use super::forest::{Forest, LegacyForest};
use super::{Evaluation, TrainConfig};
use crate::bar::{Bar, Symbol, Timeframe};
use crate::labels::LabelConfig;

/// The payload format this build writes and the newest it reads. Formats 1 (no ensemble rule:
/// always the vote) and 2 (smartcore's trees, flattened as they are read) are still read.
pub const ARTIFACT_FORMAT_VERSION: u32 = 3;

const MAGIC: &[u8; 4] = b"BFM\0";

/// Why stored bytes are not a usable artifact. None of these go away by retrying.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact manifest is not valid: {0}")]
    Manifest(#[source] serde_json::Error),
    #[error("artifact format {found} is newer than this build reads ({supported}); upgrade the worker")]
    NewerFormat { found: u32, supported: u32 },
    #[error(
        "artifact payload checksum mismatch: expected {expected} (its manifest's or latest.json's), payload hashes to {actual}"
    )]
    Checksum { expected: String, actual: String },
    #[error("artifact payload is corrupt: {0}")]
    Payload(String),
    #[error("artifact payload format {payload} disagrees with its manifest ({manifest})")]
    VersionMismatch { payload: u32, manifest: u32 },
}

/// What the training data was: enough to find it again and to know it is the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub first_bar: DateTime<Utc>,
    pub last_bar: DateTime<Utc>,
    pub bars: usize,
    /// [`bars_sha256`] of the bars.
    pub sha256: String,
}

/// The readable half of an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// `{created_at}-{first 8 hex digits of the payload hash}`: sorts by time, unique per model.
    pub version: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub feature_schema_version: u32,
    pub feature_names: Vec<String>,
    pub labels: LabelConfig,
    pub config: TrainConfig,
    /// Random Forest and gradient-boosting weights in the ensemble.
    pub weights: [f64; 2],
    pub evaluation: Evaluation,
    pub data: DataSummary,
    /// The `ml-core` crate version that trained it.
    pub crate_version: String,
    pub created_at: DateTime<Utc>,
    pub payload_sha256: String,
    pub payload_bytes: u64,
}

/// What prediction needs, and nothing else.
#[derive(Debug, Serialize, Deserialize)]
pub struct Model {
    pub feature_schema_version: u32,
    pub feature_names: Vec<String>,
    pub labels: LabelConfig,
    pub score_threshold: f64,
    pub ensemble: EnsembleRule,
    pub weights: [f64; 2],
    pub(super) forest: Forest,
    pub(super) boosting: Boosting,
}

/// Format 1's payload: format 2's without the ensemble rule, which was the vote.
#[derive(Deserialize)]
struct ModelV1 {
    feature_schema_version: u32,
    feature_names: Vec<String>,
    labels: LabelConfig,
    score_threshold: f64,
    weights: [f64; 2],
    forest: LegacyForest,
    boosting: Boosting,
}

/// Format 2's payload: format 3's with smartcore's trees.
#[derive(Deserialize)]
struct ModelV2 {
    feature_schema_version: u32,
    feature_names: Vec<String>,
    labels: LabelConfig,
    score_threshold: f64,
    ensemble: EnsembleRule,
    weights: [f64; 2],
    forest: LegacyForest,
    boosting: Boosting,
}

impl From<ModelV1> for ModelV2 {
    fn from(v1: ModelV1) -> Self {
        Self {
            feature_schema_version: v1.feature_schema_version,
            feature_names: v1.feature_names,
            labels: v1.labels,
            score_threshold: v1.score_threshold,
            ensemble: EnsembleRule::Vote,
            weights: v1.weights,
            forest: v1.forest,
            boosting: v1.boosting,
        }
    }
}

impl TryFrom<ModelV2> for Model {
    type Error = ArtifactError;

    fn try_from(v2: ModelV2) -> Result<Self, ArtifactError> {
        Ok(Self {
            feature_schema_version: v2.feature_schema_version,
            feature_names: v2.feature_names,
            labels: v2.labels,
            score_threshold: v2.score_threshold,
            ensemble: v2.ensemble,
            weights: v2.weights,
            forest: Forest::try_from(v2.forest).map_err(|e| ArtifactError::Payload(e.to_string()))?,
            boosting: v2.boosting,
        })
    }
}

/// A manifest with its decoded model.
#[derive(Debug)]
pub struct Artifact {
    pub manifest: Manifest,
    pub model: Model,
}

/// An artifact as stored: the manifest's JSON and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactBytes {
    pub manifest: Vec<u8>,
    pub payload: Vec<u8>,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The content hash of bars: timestamps and OHLCV, little-endian.
pub fn bars_sha256(bars: &[Bar]) -> String {
    let mut hasher = Sha256::new();
    for bar in bars {
        hasher.update(bar.ts.timestamp_millis().to_le_bytes());
        for value in [bar.open, bar.high, bar.low, bar.close, bar.volume] {
            hasher.update(value.to_le_bytes());
        }
    }
    hex(&hasher.finalize())
}

/// Streams postcard straight into gzip: the uncompressed body of a large forest is several
/// times the payload and never needs to exist whole.
pub(super) fn encode_payload(model: &Model) -> Result<Vec<u8>, ArtifactError> {
    let mut payload = Vec::new();
    payload.extend_from_slice(MAGIC);
    payload.extend_from_slice(&ARTIFACT_FORMAT_VERSION.to_le_bytes());
    let encoder = flate2::write::GzEncoder::new(payload, flate2::Compression::default());
    let encoder = postcard::to_io(model, encoder).map_err(|e| ArtifactError::Payload(e.to_string()))?;
    encoder.finish().map_err(|e| ArtifactError::Payload(e.to_string()))
}

fn payload_version(payload: &[u8]) -> Result<u32, ArtifactError> {
    match payload {
        [m0, m1, m2, m3, v0, v1, v2, v3, ..] if [*m0, *m1, *m2, *m3] == *MAGIC => {
            Ok(u32::from_le_bytes([*v0, *v1, *v2, *v3]))
        }
        _ => Err(ArtifactError::Payload("not a boltfleet model payload".to_owned())),
    }
}

impl Artifact {
    pub fn encode(&self, payload: Vec<u8>) -> Result<ArtifactBytes, ArtifactError> {
        let manifest = serde_json::to_vec_pretty(&self.manifest).map_err(ArtifactError::Manifest)?;
        Ok(ArtifactBytes { manifest, payload })
    }

    /// Reads only the manifest (listing models needs no payload).
    pub fn read_manifest(manifest: &[u8]) -> Result<Manifest, ArtifactError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        // The version first: a newer manifest may not parse as ours, and should say why.
        let version: Version = serde_json::from_slice(manifest).map_err(ArtifactError::Manifest)?;
        if version.format_version > ARTIFACT_FORMAT_VERSION {
            return Err(ArtifactError::NewerFormat {
                found: version.format_version,
                supported: ARTIFACT_FORMAT_VERSION,
            });
        }
        serde_json::from_slice(manifest).map_err(ArtifactError::Manifest)
    }

    /// Verifies and decodes stored bytes.
    pub fn decode(bytes: &ArtifactBytes) -> Result<Self, ArtifactError> {
        let manifest = Self::read_manifest(&bytes.manifest)?;
        let version = checked_payload_version(&bytes.payload, &manifest.payload_sha256)?;
        if version != manifest.format_version {
            return Err(ArtifactError::VersionMismatch {
                payload: version,
                manifest: manifest.format_version,
            });
        }
        let model = decode_model(version, &bytes.payload)?;
        Ok(Self { manifest, model })
    }
}

/// The model in a payload, checked against the hash that vouches for it: a forecast needs no
/// more of an artifact than its payload, and the `latest.json` that names the version names
/// the payload's hash too (the manifest, larger than a light model's payload, is not read).
pub fn decode_payload(payload: &[u8], payload_sha256: &str) -> Result<Model, ArtifactError> {
    decode_model(checked_payload_version(payload, payload_sha256)?, payload)
}

/// The format version in a payload's header, once its bytes hash to `expected` and the
/// version is one this build reads.
fn checked_payload_version(payload: &[u8], expected: &str) -> Result<u32, ArtifactError> {
    let actual = sha256_hex(payload);
    if actual != expected {
        return Err(ArtifactError::Checksum { expected: expected.to_owned(), actual });
    }
    let version = payload_version(payload)?;
    if version > ARTIFACT_FORMAT_VERSION {
        return Err(ArtifactError::NewerFormat { found: version, supported: ARTIFACT_FORMAT_VERSION });
    }
    Ok(version)
}

/// The model in a payload of `version` (its header already checked).
fn decode_model(version: u32, payload: &[u8]) -> Result<Model, ArtifactError> {
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(&payload[MAGIC.len() + 4..])
        .read_to_end(&mut body)
        .map_err(|e| ArtifactError::Payload(e.to_string()))?;
    let corrupt = |e: postcard::Error| ArtifactError::Payload(e.to_string());
    match version {
        1 => Model::try_from(ModelV2::from(postcard::from_bytes::<ModelV1>(&body).map_err(corrupt)?)),
        2 => Model::try_from(postcard::from_bytes::<ModelV2>(&body).map_err(corrupt)?),
        _ => postcard::from_bytes::<Model>(&body).map_err(corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::boosting::BoostingParams;

    /// A payload of `version` around `body`, as that format wrote it.
    fn payload_of(version: u32, body: &[u8]) -> Vec<u8> {
        let mut payload = MAGIC.to_vec();
        payload.extend_from_slice(&version.to_le_bytes());
        let mut gzip = flate2::write::GzEncoder::new(payload, flate2::Compression::default());
        std::io::Write::write_all(&mut gzip, body).unwrap();
        gzip.finish().unwrap()
    }

    /// Payloads as formats 1 and 2 wrote them: postcard lays a struct out as its fields one
    /// after another, so a body is the fields' bytes concatenated, smartcore's forest among them.
    #[test]
    fn format_1_and_2_payloads_are_still_read_with_their_trees_flattened() {
        let (features, labels) = crate::model::separable_rows();
        let (legacy_forest, flattened) =
            super::super::forest::smartcore_trees::legacy_and_flattened(&features, &labels, 2, 5, 1);
        let boosting_params = BoostingParams { rounds: 5, ..BoostingParams::default() };
        let boosting = Boosting::fit(&features, &labels, 2, &boosting_params, 1).unwrap();
        let label_config = LabelConfig { horizon: 5, threshold: 0.01 };
        let names = vec!["a".to_owned(), "b".to_owned()];
        let body =
            |head: Vec<u8>| [head, legacy_forest.clone(), postcard::to_allocvec(&boosting).unwrap()].concat();

        let v1 = body(postcard::to_allocvec(&(3u32, &names, label_config, 0.33f64, [0.4f64, 0.6])).unwrap());
        let payload = payload_of(1, &v1);
        assert_eq!(payload_version(&payload).unwrap(), 1);
        let model = decode_model(1, &payload).unwrap();
        assert_eq!(model.ensemble, EnsembleRule::Vote, "format 1 had only the vote");
        assert_eq!(
            (model.weights, model.score_threshold, model.feature_schema_version),
            ([0.4, 0.6], 0.33, 3)
        );
        assert_eq!(model.forest, flattened);

        let head = (3u32, &names, label_config, 0.33f64, EnsembleRule::Proba, [0.4f64, 0.6]);
        let model = decode_model(2, &payload_of(2, &body(postcard::to_allocvec(&head).unwrap()))).unwrap();
        assert_eq!((model.ensemble, model.weights), (EnsembleRule::Proba, [0.4, 0.6]));
        assert_eq!(model.forest, flattened, "smartcore's trees, flattened");
    }
}
