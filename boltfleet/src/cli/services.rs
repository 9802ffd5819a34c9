//! The flags and environment names of the settings several commands share, each turned into
//! its library's plain config. Defaults come from the libraries' `Default`; secrets are read,
//! never printed (`hide_env_values`).

use std::net::SocketAddr;

use clap::Args;
use fleet::config::{DatabaseConfig, QueueBackend, QueueConfig, S3Config, StoreConfig};
use fleet::lifecycle::{DriftPolicy, PromotionPolicy, PromotionRule};
use fleet::ops::OpsConfig;
use ml_core::model::ensemble::EnsembleRule;
use ml_core::model::{LabelThreshold, TrainSettings};

/// Where artifacts and snapshots live.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Artifact store: s3://bucket[/prefix] or file:///absolute/path.
    #[arg(long, env = "ARTIFACTS_URL")]
    pub artifacts_url: String,
    #[command(flatten)]
    pub s3: S3Args,
}

impl StoreArgs {
    pub fn config(&self) -> StoreConfig {
        StoreConfig { artifacts_url: self.artifacts_url.clone(), s3: self.s3.config() }
    }
}

/// How to reach an S3 store: AWS's own settings, under their names.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// S3 endpoint for MinIO, SeaweedFS and other S3-compatible servers (path-style, HTTP
    /// allowed); unset for AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub aws_access_key_id: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value_t = S3Config::default().region)]
    pub aws_region: String,
}

impl S3Args {
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint_url: self.aws_endpoint_url.clone(),
            access_key_id: self.aws_access_key_id.clone(),
            secret_access_key: self.aws_secret_access_key.clone(),
            region: self.aws_region.clone(),
        }
    }
}

/// The job queue and the results stream: Redis for a fleet of machines, or one SQLite file
/// for the processes of one machine (embedded mode). Exactly one of the two URLs is given.
#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    #[command(flatten)]
    pub backend: QueueBackendArgs,
    /// Prefix of every Redis key (or SQLite queue name) the fleet uses; fleets sharing a
    /// server pick different ones.
    #[arg(long, env = "QUEUE_PREFIX", default_value_t = QueueConfig::default().prefix)]
    pub queue_prefix: String,
    /// Run on a Redis whose maxmemory-policy is not noeviction, though it may delete queued
    /// jobs when its memory runs short (refused otherwise).
    #[arg(long, env = "ALLOW_EVICTING_REDIS")]
    pub allow_evicting_redis: bool,
}

/// Where the queue lives. A group so that clap names both when neither is set.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct QueueBackendArgs {
    /// Redis connection string, e.g. redis://127.0.0.1:6379. May hold a password: never logged.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// A queue with no server, in a SQLite file: sqlite:///absolute/path/queue.db.
    #[arg(long, env = "QUEUE_URL")]
    pub queue_url: Option<String>,
}

impl QueueArgs {
    pub fn config(&self) -> anyhow::Result<QueueConfig> {
        let backend = queue_backend(self.backend.redis_url.as_deref(), self.backend.queue_url.as_deref())?
            .ok_or_else(|| anyhow::anyhow!("set REDIS_URL or QUEUE_URL"))?;
        Ok(QueueConfig {
            backend,
            prefix: self.queue_prefix.clone(),
            allow_evicting_redis: self.allow_evicting_redis,
        })
    }
}

/// The backend the two URLs name, Redis first; `None` when neither is set.
pub fn queue_backend(
    redis_url: Option<&str>,
    queue_url: Option<&str>,
) -> anyhow::Result<Option<QueueBackend>> {
    Ok(match (redis_url, queue_url) {
        (Some(url), _) => Some(QueueBackend::Redis(url.to_owned())),
        (None, Some(url)) => Some(QueueBackend::from_queue_url(url)?),
        (None, None) => None,
    })
}

/// The results database: Postgres (Supabase) for a fleet, or a SQLite file in embedded mode.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// postgres://user:password@host:5432/db, or sqlite:///absolute/path/fleet.db for the
    /// embedded database. Holds a secret: read from the environment, never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

impl DatabaseArgs {
    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig { url: self.database_url.clone() }
    }
}

/// The operator's endpoint of a long-running role.
#[derive(Debug, Clone, Args)]
pub struct OpsArgs {
    /// Where /metrics, /healthz and /readyz are served (port 0: any free port). Unset: port
    /// 9090 on every interface, or the next free one when several processes share a host
    /// (logged).
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

impl OpsArgs {
    pub fn config(&self) -> OpsConfig {
        OpsConfig { metrics_addr: self.metrics_addr }
    }
}

/// When a newly trained model becomes `latest`.
#[derive(Debug, Clone, Copy, Args)]
pub struct PromotionArgs {
    /// When a new model becomes `latest`: `always`, or `not-worse` (only if its validation
    /// accuracy is not below the current model's by more than the tolerance; otherwise it is
    /// kept as a candidate).
    #[arg(long, env = "PROMOTION_RULE", default_value_t = PromotionPolicy::default().promotion_rule)]
    pub promotion_rule: PromotionRule,
    /// Validation accuracy (0 to 1) a new model may lose against the current one and still
    /// be promoted under `not-worse`.
    #[arg(long, env = "PROMOTION_TOLERANCE", default_value_t = PromotionPolicy::default().promotion_tolerance)]
    pub promotion_tolerance: f64,
}

impl PromotionArgs {
    pub fn policy(&self) -> PromotionPolicy {
        PromotionPolicy { promotion_rule: self.promotion_rule, promotion_tolerance: self.promotion_tolerance }
    }
}

/// When live accuracy is low enough, on enough forecasts, to alert and retrain.
#[derive(Debug, Clone, Copy, Args)]
pub struct DriftArgs {
    /// Alert when live accuracy is below the model's validation accuracy by more than this
    /// (0.15 = 15 points, the original pipeline's rule).
    #[arg(long, env = "DRIFT_MAX_DROP", default_value_t = DriftPolicy::default().drift_max_drop)]
    pub drift_max_drop: f64,
    /// Evaluated forecasts needed in the window before drift is judged at all.
    #[arg(long, env = "DRIFT_MIN_FORECASTS", default_value_t = DriftPolicy::default().drift_min_forecasts)]
    pub drift_min_forecasts: usize,
    /// The rolling window of live accuracy, in days of forecast bar time.
    #[arg(long, env = "DRIFT_WINDOW_DAYS", default_value_t = DriftPolicy::default().drift_window_days)]
    pub drift_window_days: u32,
}

impl DriftArgs {
    pub fn policy(&self) -> DriftPolicy {
        DriftPolicy {
            drift_max_drop: self.drift_max_drop,
            drift_min_forecasts: self.drift_min_forecasts,
            drift_window_days: self.drift_window_days,
        }
    }
}

/// The training knobs, for `worker train-file`, `train`, `evaluate`'s retraining and the
/// scheduler. Unset label settings take the timeframe's defaults.
#[derive(Debug, Clone, Args)]
pub struct TrainingArgs {
    /// Also evaluate on this many expanding, purged walk-forward folds (0: none).
    #[arg(long, default_value_t = TrainSettings::default().walk_forward)]
    pub walk_forward: usize,
    /// How the two models make the ensemble: `proba` (weighted class probabilities, the
    /// weight fitted inside the training period; chosen by measurement, docs/metrics.md) or
    /// `vote` (the original's ridge-weighted votes, weights fitted on validation).
    #[arg(long, default_value = TrainSettings::default().ensemble.as_str())]
    pub ensemble: EnsembleRule,
    /// What the backtest of the signal charges per unit of turnover, in basis points.
    #[arg(long, default_value_t = TrainSettings::default().cost_bps)]
    pub cost_bps: f64,
    /// Bars ahead for the label (default: the timeframe's).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Return threshold for BULLISH/BEARISH, e.g. 0.009 (default: the timeframe's), or
    /// `auto`: chosen on the training rows so that a third of them are NEUTRAL.
    #[arg(long)]
    pub threshold: Option<LabelThreshold>,
    /// Share of the rows, oldest first, that train (between 0 and 1).
    #[arg(long, default_value_t = TrainSettings::default().train_fraction, value_parser = fraction)]
    pub train_fraction: f64,
    /// Random Forest trees.
    #[arg(long, default_value_t = TrainSettings::default().trees, value_parser = at_least_one::<u16>)]
    pub trees: u16,
    /// Random Forest maximum depth.
    #[arg(long, default_value_t = TrainSettings::default().max_depth, value_parser = at_least_one::<u16>)]
    pub max_depth: u16,
    /// Gradient-boosting rounds per class.
    #[arg(long, default_value_t = TrainSettings::default().rounds, value_parser = at_least_one::<usize>)]
    pub rounds: usize,
    /// Gradient-boosting learning rate (above 0).
    #[arg(long, default_value_t = TrainSettings::default().learning_rate, value_parser = positive_rate)]
    pub learning_rate: f32,
    /// Seed of every random choice in training.
    #[arg(long, default_value_t = TrainSettings::default().seed)]
    pub seed: u64,
}

impl TrainingArgs {
    pub fn settings(&self) -> TrainSettings {
        TrainSettings {
            walk_forward: self.walk_forward,
            ensemble: self.ensemble,
            cost_bps: self.cost_bps,
            horizon: self.horizon,
            threshold: self.threshold,
            train_fraction: self.train_fraction,
            trees: self.trees,
            max_depth: self.max_depth,
            rounds: self.rounds,
            learning_rate: self.learning_rate,
            seed: self.seed,
        }
    }
}

/// A count that trains nothing at 0 (trees, depth, rounds).
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(value) if value >= T::from(1) => Ok(value),
        Ok(_) => Err("0 trains a degenerate model: at least 1".to_owned()),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value < 1.0 => Ok(value),
        _ => Err(format!("{text:?} is not a share strictly between 0 and 1 (e.g. 0.7)")),
    }
}

fn positive_rate(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!("{text:?} is not a learning rate above 0 (e.g. 0.05)")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use ml_core::labels::ThresholdRule;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        training: TrainingArgs,
    }

    fn config(args: &[&str]) -> ml_core::model::TrainConfig {
        let cli = Cli::try_parse_from(std::iter::once("train").chain(args.iter().copied())).unwrap();
        cli.training.settings().config_for(ml_core::Timeframe::H1)
    }

    #[test]
    fn the_defaults_are_the_libraries_and_auto_chooses_the_threshold() {
        let defaults = config(&[]);
        assert_eq!(defaults, TrainSettings::default().config_for(ml_core::Timeframe::H1));
        assert_eq!(defaults.ensemble, EnsembleRule::Proba, "chosen by measurement: docs/metrics.md");
        assert_eq!(defaults.walk_forward_folds, Some(3));
        assert_eq!((defaults.threshold_rule, defaults.labels.threshold), (ThresholdRule::Fixed, 0.003));
        assert_eq!(config(&["--threshold", "auto"]).threshold_rule, ThresholdRule::Balanced);
        let fixed = config(&["--threshold", "0.004", "--ensemble", "vote", "--walk-forward", "0"]);
        assert_eq!((fixed.threshold_rule, fixed.labels.threshold), (ThresholdRule::Fixed, 0.004));
        assert_eq!((fixed.ensemble, fixed.walk_forward_folds), (EnsembleRule::Vote, None));
        let refused = Cli::try_parse_from(["train", "--threshold=-0.1"]).unwrap_err().to_string();
        assert!(refused.contains("nor auto"), "{refused}");
    }

    #[test]
    fn settings_that_train_nothing_are_refused_by_name() {
        for (flag, value, says) in [
            ("--trees", "0", "at least 1"),
            ("--max-depth", "0", "at least 1"),
            ("--rounds", "0", "at least 1"),
            ("--trees", "many", "not a whole number"),
            ("--train-fraction", "1", "between 0 and 1"),
            ("--train-fraction", "0", "between 0 and 1"),
            ("--learning-rate", "0", "above 0"),
        ] {
            let refused = Cli::try_parse_from(["train", flag, value]).unwrap_err().to_string();
            assert!(refused.contains(flag) && refused.contains(says), "{flag} {value}: {refused}");
        }
        assert_eq!(config(&["--trees", "1", "--rounds", "1"]).forest.trees, 1);
    }

    #[derive(Debug, Parser)]
    struct Policies {
        #[command(flatten)]
        promotion: PromotionArgs,
        #[command(flatten)]
        drift: DriftArgs,
    }

    #[test]
    fn policy_flags_default_to_the_libraries_policies() {
        let parsed = Policies::try_parse_from(["worker"]).unwrap();
        let promotion = parsed.promotion.policy();
        assert_eq!(promotion.promotion_rule, PromotionPolicy::default().promotion_rule);
        let drift = parsed.drift.policy();
        assert_eq!(drift.drift_min_forecasts, DriftPolicy::default().drift_min_forecasts);
        let always = Policies::try_parse_from(["worker", "--promotion-rule", "always"]).unwrap();
        assert_eq!(always.promotion.policy().promotion_rule, PromotionRule::Always);
    }
}
