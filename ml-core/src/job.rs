//! What travels between the fleet's processes: jobs (producer → workers) and their results
//! (workers → collector). Plain serde types, JSON on the wire.
//!
//! Every job carries [`JOB_SCHEMA_VERSION`]. A worker refuses a job written for another
//! schema, naming both versions, instead of guessing at its fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::features::{FEATURE_SCHEMA_VERSION, training_features};
use crate::labels::Direction;
use crate::model::backtest::Backtest;
use crate::model::scores::{Composite, Scores};
use crate::model::{Evaluation, LastBar, TrainConfig};
use crate::{Symbol, Timeframe};

/// The version of [`Job`] and [`JobResult`]. Bump it on any change a reader of the previous
/// version would misread.
pub const JOB_SCHEMA_VERSION: u32 = 1;

/// One unit of work for a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub schema_version: u32,
    /// Unique per job: the primary key of the job's result row.
    pub job_id: Uuid,
    /// Groups the jobs of one trigger.
    pub run_id: Uuid,
    pub enqueued_at: DateTime<Utc>,
    /// The queue's de-duplication key; a worker releases it when the job fails, so that the
    /// next trigger runs the job again.
    pub idempotency_key: Option<String>,
    /// The W3C trace context of the span that enqueued the job, so that the worker's span
    /// joins the producer's trace. Absent when traces are not exported; a reader of a job
    /// without it, or one that does not know it, loses nothing but the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(flatten)]
    pub kind: JobKind,
}

/// What a job asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Train the ensemble on a bar snapshot and publish it as the pair's latest model.
    Train { pair: Pair, snapshot: Snapshot, config: TrainConfig },
    /// Forecast the bar after the snapshot's last with the pair's latest model.
    Forecast {
        pair: Pair,
        snapshot: Snapshot,
        /// The features of the snapshot's last bar as the trigger computed them. Absent from
        /// triggers older than the field and for a pair that cannot be forecast: the worker
        /// then computes them from the snapshot (and says why not).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_bar: Option<LastBarFeatures>,
    },
    /// Does nothing but report back: measures the fleet's own overhead and proves it is alive.
    Ping,
}

impl Job {
    pub fn new(run_id: Uuid, kind: JobKind, idempotency_key: Option<String>) -> Self {
        Self {
            schema_version: JOB_SCHEMA_VERSION,
            job_id: Uuid::new_v4(),
            run_id,
            enqueued_at: Utc::now(),
            idempotency_key,
            traceparent: None,
            kind,
        }
    }

    /// The job, carrying the trace context it was enqueued in.
    #[must_use]
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    /// `train`, `forecast` or `ping`: for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            JobKind::Train { .. } => "train",
            JobKind::Forecast { .. } => "forecast",
            JobKind::Ping => "ping",
        }
    }

    pub fn pair(&self) -> Option<&Pair> {
        match &self.kind {
            JobKind::Train { pair, .. } | JobKind::Forecast { pair, .. } => Some(pair),
            JobKind::Ping => None,
        }
    }
}

/// A symbol at a timeframe: the unit the fleet trains and forecasts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pair {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.symbol, self.timeframe)
    }
}

/// Bars frozen in object storage: Parquet named by the sha256 of its bytes, so a job names
/// exactly the data it ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Object key relative to the store's root.
    pub key: String,
    pub sha256: String,
    pub bars: usize,
    pub last_bar: DateTime<Utc>,
}

/// The training features at a snapshot's last bar, carried by its forecast job: with them a
/// worker neither reads the snapshot nor computes them again. Every worker used to compute
/// those of every pair of every snapshot file it read, half of them for jobs another worker
/// ran (docs/benchmarks.md, issue 27). The trigger computes them from the bars it snapshots,
/// with the same code (a series' features are the same alone or among many).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBarFeatures {
    /// The feature schema they were computed under: a worker of another schema (a rolling
    /// upgrade) does not use them.
    pub feature_schema_version: u32,
    pub ts: DateTime<Utc>,
    /// Each feature's `f64::to_bits`, in training order: exact, where a decimal float in JSON
    /// may come back one unit off (serde_json's default parser), and a split at a tree's
    /// threshold can turn on that unit.
    pub feature_bits: Vec<u64>,
}

impl LastBarFeatures {
    pub fn of(last_bar: &LastBar) -> Self {
        Self {
            feature_schema_version: FEATURE_SCHEMA_VERSION,
            ts: last_bar.ts,
            feature_bits: last_bar.features.iter().map(|feature| feature.to_bits()).collect(),
        }
    }

    /// The features, if computed under this build's schema.
    pub fn last_bar(&self) -> Option<LastBar> {
        let ours = self.feature_schema_version == FEATURE_SCHEMA_VERSION
            && self.feature_bits.len() == training_features().count();
        ours.then(|| LastBar {
            ts: self.ts,
            features: self.feature_bits.iter().map(|&bits| f64::from_bits(bits)).collect(),
        })
    }
}

/// The key that makes a training run happen once per pair, data and configuration.
pub fn train_idempotency_key(pair: &Pair, snapshot: &Snapshot, config: &TrainConfig) -> String {
    format!("train:{}:{}:{}:{}", pair.symbol, pair.timeframe, snapshot.sha256, config_sha256(config))
}

/// The hash of everything in a training configuration that changes the model (threads don't).
pub fn config_sha256(config: &TrainConfig) -> String {
    let json = serde_json::to_vec(config).expect("a training configuration serialises");
    crate::model::artifact::sha256_hex(&json)
}

/// What a worker reports about a job, successful or not. Delivered at least once: the
/// collector keys rows by `job_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub schema_version: u32,
    pub job_id: Uuid,
    pub run_id: Uuid,
    /// The worker that ran it; `None` when the producer settled it without a worker.
    pub worker_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The kind-specific half of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Train {
        pair: Pair,
        snapshot: Snapshot,
        config_sha256: String,
        status: TrainStatus,
    },
    Forecast {
        pair: Pair,
        status: ForecastStatus,
    },
    /// A forecast whose horizon has passed, scored against the bars that followed it.
    ForecastOutcome(ForecastOutcome),
    /// Live accuracy fell too far below validation accuracy.
    DriftAlert(DriftAlert),
    /// A pair's current model judged on its realised forecasts.
    LiveScore(Box<LiveScore>),
    Ping,
}

/// What happened after a forecast, labelled with the rule the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastOutcome {
    /// The forecast's `job_id` in `ml_forecasts`.
    pub forecast_job_id: String,
    pub pair: Pair,
    pub artifact_version: Option<String>,
    pub bar_ts: DateTime<Utc>,
    pub horizon: usize,
    pub predicted: Direction,
    pub realized: Direction,
    /// `close[bar_ts + horizon] / close[bar_ts] - 1`.
    pub realized_return: f64,
    /// The bar `horizon` bars after `bar_ts`.
    pub realized_at: DateTime<Utc>,
    /// `close[next bar] / close[bar_ts] - 1`: what a position taken on the forecast earns
    /// in the live backtest (`None` from producers older than the field).
    #[serde(default)]
    pub next_return: Option<f64>,
}

/// A pair's current model on its realised forecasts in the evaluation window, beside the
/// scores it was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveScore {
    pub pair: Pair,
    pub artifact_version: Option<String>,
    /// Realised forecasts of the model in the window.
    pub evaluated: usize,
    /// The training run's backtest and walk-forward scores with the live one; the live score
    /// is `None` below the minimum of forecasts, rather than a number from too few.
    pub scores: Scores,
    pub composite: Composite,
    /// The live accuracy and its majority baseline, even below the minimum.
    pub live_accuracy: f64,
    pub majority_accuracy: f64,
    /// The realised signals traded (each forecast's position held to the next bar); `None`
    /// when no outcome carries a next-bar return.
    pub backtest: Option<Backtest>,
}

/// A pair whose model stopped working as validated, and the retraining job it triggered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftAlert {
    pub pair: Pair,
    pub artifact_version: Option<String>,
    pub live_accuracy: f64,
    pub validation_accuracy: f64,
    /// Forecasts evaluated in the window.
    pub evaluated: usize,
    /// The drop beyond which the rule alerts.
    pub max_drop: f64,
    pub window_start: DateTime<Utc>,
    pub retrain_job_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrainStatus {
    Succeeded {
        artifact: ArtifactRef,
        evaluation: Box<Evaluation>,
        promoted: bool,
        /// Why the model did not become `latest`, when it did not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        promotion_note: Option<String>,
    },
    Failed {
        error: String,
    },
    /// A model for the same data and configuration exists: nothing was trained.
    UpToDate {
        artifact_version: Option<String>,
    },
}

/// Where a trained model lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub uri: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ForecastStatus {
    Predicted {
        forecast: crate::model::Forecast,
        artifact_version: String,
    },
    /// No usable model (none, or expired): the reason says which and what to do.
    NoModel {
        reason: String,
    },
    Failed {
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_bars_features_travel_exactly_and_serve_only_their_own_schema() {
        // Values whose shortest decimal forms need all 17 digits.
        let features: Vec<f64> = (1..=training_features().count()).map(|i| (i as f64).sqrt() / 7.0).collect();
        let last_bar = LastBar { ts: "2024-03-01T15:00:00Z".parse().unwrap(), features };
        let carried = LastBarFeatures::of(&last_bar);
        let pair = Pair { symbol: "AAPL".parse().unwrap(), timeframe: Timeframe::D1 };
        let snapshot =
            Snapshot { key: "k".to_owned(), sha256: "0".repeat(64), bars: 500, last_bar: last_bar.ts };
        let kind = JobKind::Forecast { pair, snapshot, last_bar: Some(carried.clone()) };
        let job = Job::new(Uuid::new_v4(), kind, None);
        let read: Job = serde_json::from_slice(&serde_json::to_vec(&job).unwrap()).unwrap();
        let JobKind::Forecast { last_bar: Some(read), .. } = read.kind else { panic!("{read:?}") };
        let read = read.last_bar().expect("features of this build's schema");
        assert_eq!(read.ts, last_bar.ts);
        let bits = |features: &[f64]| features.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&read.features), bits(&last_bar.features), "bit for bit");

        let other_schema =
            LastBarFeatures { feature_schema_version: FEATURE_SCHEMA_VERSION + 1, ..carried.clone() };
        assert_eq!(other_schema.last_bar(), None);
        let fewer = LastBarFeatures { feature_bits: carried.feature_bits[1..].to_vec(), ..carried };
        assert_eq!(fewer.last_bar(), None);
    }

    #[test]
    fn a_forecast_job_without_features_reads_as_one_from_an_older_trigger() {
        let pair = Pair { symbol: "AAPL".parse().unwrap(), timeframe: Timeframe::D1 };
        let snapshot =
            Snapshot { key: "k".to_owned(), sha256: "0".repeat(64), bars: 500, last_bar: Utc::now() };
        let job = Job::new(Uuid::new_v4(), JobKind::Forecast { pair, snapshot, last_bar: None }, None);
        let json = serde_json::to_value(&job).unwrap();
        assert!(json.get("last_bar").is_none(), "written as older triggers wrote it: {json}");
        assert_eq!(serde_json::from_value::<Job>(json).unwrap(), job);
    }
}
