//! Settings every binary of the fleet shares, from flags or the environment under the
//! ecosystem's names. Secrets are read, never printed (`hide_env_values`).

use clap::Args;
use shared::labels::ThresholdRule;

/// Where artifacts and snapshots live.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Artifact store: s3://bucket[/prefix] or file:///absolute/path.
    #[arg(long, env = "ARTIFACTS_URL")]
    pub artifacts_url: String,
    #[command(flatten)]
    pub s3: S3Args,
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
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub aws_region: String,
}

impl Default for S3Args {
    fn default() -> Self {
        Self {
            aws_endpoint_url: None,
            aws_access_key_id: None,
            aws_secret_access_key: None,
            aws_region: "us-east-1".to_owned(),
        }
    }
}

impl StoreArgs {
    /// A store in a local folder (created if missing).
    pub fn folder(path: &std::path::Path) -> Self {
        Self { artifacts_url: format!("file://{}", path.display()), s3: S3Args::default() }
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
    #[arg(long, env = "QUEUE_PREFIX", default_value = "boltfleet")]
    pub queue_prefix: String,
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
    /// The embedded queue in `file` (created if missing).
    pub fn sqlite(file: &std::path::Path, queue_prefix: &str) -> Self {
        Self {
            backend: QueueBackendArgs { redis_url: None, queue_url: Some(sqlite_url(file)) },
            queue_prefix: queue_prefix.to_owned(),
        }
    }
}

/// The URL of a SQLite database file, as sqlx reads it.
pub fn sqlite_url(file: &std::path::Path) -> String {
    format!("sqlite://{}", file.display())
}

/// The results database: Postgres (Supabase) for a fleet, or a SQLite file in embedded mode.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// postgres://user:password@host:5432/db, or sqlite:///absolute/path/fleet.db for the
    /// embedded database. Holds a secret: read from the environment, never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

/// The training knobs, for `worker train-file` and `producer train`. Unset label settings
/// take the timeframe's defaults.
#[derive(Debug, Clone, Args)]
pub struct TrainingArgs {
    /// Also evaluate on this many expanding, purged walk-forward folds (0: none).
    #[arg(long, default_value_t = 3)]
    pub walk_forward: usize,
    /// How the two models make the ensemble: `proba` (weighted class probabilities, the
    /// weight fitted inside the training period; chosen by measurement, docs/metrics.md) or
    /// `vote` (the original's ridge-weighted votes, weights fitted on validation).
    #[arg(long, default_value = "proba")]
    pub ensemble: shared::model::ensemble::EnsembleRule,
    /// What the backtest of the signal charges per unit of turnover, in basis points.
    #[arg(long, default_value_t = shared::model::backtest::DEFAULT_COST_BPS)]
    pub cost_bps: f64,
    /// Bars ahead for the label (default: the timeframe's).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Return threshold for BULLISH/BEARISH, e.g. 0.009 (default: the timeframe's), or
    /// `auto`: chosen on the training rows so that a third of them are NEUTRAL.
    #[arg(long)]
    pub threshold: Option<LabelThreshold>,
    /// Share of the rows, oldest first, that train (between 0 and 1).
    #[arg(long, default_value_t = 0.7, value_parser = fraction)]
    pub train_fraction: f64,
    /// Random Forest trees.
    #[arg(long, default_value_t = 200, value_parser = at_least_one::<u16>)]
    pub trees: u16,
    /// Random Forest maximum depth.
    #[arg(long, default_value_t = 15, value_parser = at_least_one::<u16>)]
    pub max_depth: u16,
    /// Gradient-boosting rounds per class.
    #[arg(long, default_value_t = 100, value_parser = at_least_one::<usize>)]
    pub rounds: usize,
    /// Gradient-boosting learning rate (above 0).
    #[arg(long, default_value_t = 0.05, value_parser = positive_rate)]
    pub learning_rate: f32,
    /// Seed of every random choice in training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
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

/// `--threshold`: a return, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabelThreshold {
    Fixed(f64),
    Auto,
}

impl std::str::FromStr for LabelThreshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "auto" {
            return Ok(Self::Auto);
        }
        match text.parse::<f64>() {
            Ok(threshold) if threshold.is_finite() && threshold >= 0.0 => Ok(Self::Fixed(threshold)),
            _ => Err(format!("{text:?} is neither a return of 0 or more (e.g. 0.009) nor auto")),
        }
    }
}

impl TrainingArgs {
    /// The configuration for a timeframe (threads left at "one per core").
    pub fn config_for(&self, timeframe: shared::Timeframe) -> shared::model::TrainConfig {
        let mut config = shared::model::TrainConfig::for_timeframe(timeframe);
        config.labels.horizon = self.horizon.unwrap_or(config.labels.horizon);
        match self.threshold {
            Some(LabelThreshold::Fixed(threshold)) => config.labels.threshold = threshold,
            Some(LabelThreshold::Auto) => config.threshold_rule = ThresholdRule::Balanced,
            None => {}
        }
        config.train_fraction = self.train_fraction;
        config.walk_forward_folds = (self.walk_forward > 0).then_some(self.walk_forward);
        config.cost_bps = self.cost_bps;
        config.ensemble = self.ensemble;
        config.forest.trees = self.trees;
        config.forest.max_depth = self.max_depth;
        config.boosting.rounds = self.rounds;
        config.boosting.learning_rate = self.learning_rate;
        config.seed = self.seed;
        config
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use shared::model::ensemble::EnsembleRule;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        training: TrainingArgs,
    }

    fn config(args: &[&str]) -> shared::model::TrainConfig {
        let cli = Cli::try_parse_from(std::iter::once("train").chain(args.iter().copied())).unwrap();
        cli.training.config_for(shared::Timeframe::H1)
    }

    #[test]
    fn the_defaults_are_the_measured_ones_and_auto_chooses_the_threshold() {
        let defaults = config(&[]);
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
}
