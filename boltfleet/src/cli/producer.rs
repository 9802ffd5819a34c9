//! The producer's verbs: `ingest`, `features`, `train`, `forecast`, `ping`, `evaluate`,
//! `schedule` and `models`, as flags turned into `producer`'s settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use fleet::lifecycle;
use fleet::shutdown::Shutdown;
use ml_core::ingest::{Adjustment, ColumnOverrides, IngestOptions};
use ml_core::model::consensus;
use ml_core::model::scores::CompositeRule;
use ml_core::{Symbol, Timeframe};
use producer::evaluate::Evaluate;
use producer::features::Features;
use producer::ingest::Ingest;
use producer::models::{Filter, Models};
use producer::schedule::{Cron, Scheduled};
use producer::trigger::{Forecast, Pairs, Ping, Services, Train};
use producer::wait::Wait;

use super::services::{DatabaseArgs, DriftArgs, QueueArgs, StoreArgs, TrainingArgs};

#[derive(Debug, Subcommand)]
pub enum ProducerCommand {
    /// Load bar files into ohlc_bars (or only validate them, --check), and print what was
    /// read, kept, skipped and loaded.
    Ingest(IngestArgs),
    /// Train every pair (or those asked for): one job per symbol x timeframe.
    Train(TrainArgs),
    /// Forecast every pair (or those asked for) with its latest model.
    Forecast(ForecastArgs),
    /// Score forecasts whose horizon has passed, report live accuracy per pair, and alert
    /// and retrain where it drifted below validation accuracy.
    Evaluate(EvaluateArgs),
    /// Send no-op jobs through the whole fleet: proves it is up, and measures its overhead.
    Ping(PingArgs),
    /// Run until stopped, firing train, forecast and evaluate on their cron schedules (UTC).
    Schedule(Box<ScheduleArgs>),
    /// List, show and prune the trained models in the artifact store.
    Models(ModelsArgs),
    /// Write a bar file's bars with every feature column and the label, for inspection.
    Features(FeaturesArgs),
}

impl ProducerCommand {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ingest(_) => "ingest",
            Self::Train(_) => "train",
            Self::Forecast(_) => "forecast",
            Self::Evaluate(_) => "evaluate",
            Self::Ping(_) => "ping",
            Self::Schedule(_) => "schedule",
            Self::Models(_) => "models",
            Self::Features(_) => "features",
        }
    }

    pub async fn run(self, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
        Ok(match self {
            Self::Ingest(args) => producer::ingest::run(args.ingest()).await?,
            Self::Train(args) => producer::trigger::train(args.train()?).await?,
            Self::Forecast(args) => producer::trigger::forecast(args.forecast()?).await?,
            Self::Ping(args) => producer::trigger::ping(args.ping()?).await?,
            Self::Evaluate(args) => producer::evaluate::run(args.evaluate()?).await?,
            Self::Schedule(args) => producer::schedule::run(args.scheduled()?, shutdown).await?,
            Self::Models(args) => producer::models::run(args.command.models(), &args.store.config()).await?,
            Self::Features(args) => {
                let features = args.features();
                tokio::task::spawn_blocking(move || producer::features::run(&features)).await??
            }
        })
    }
}

/// How to read bar files; everything is detected unless given.
#[derive(Debug, Default, Args)]
pub struct ReadArgs {
    /// Symbol of the bars (files without a ticker column), or the one ticker to keep.
    #[arg(long)]
    symbol: Option<Symbol>,
    /// Timeframe of the bars (m1, m5, m15, m30, h1, h4, d1, w1) instead of detecting it.
    #[arg(long)]
    timeframe: Option<Timeframe>,
    /// Split/dividend adjustment from an `Adj Close` column.
    #[arg(long, value_enum, default_value = "auto")]
    adjust: AdjustArg,
    /// Fail on the first unusable row instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// chrono pattern of the timestamp column, e.g. "%d.%m.%Y %H:%M:%S%.f".
    #[arg(long)]
    date_format: Option<String>,
    /// Name of the timestamp column.
    #[arg(long)]
    time_column: Option<String>,
    /// Name of the close column.
    #[arg(long)]
    close_column: Option<String>,
    /// Name of the volume column.
    #[arg(long)]
    volume_column: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, clap::ValueEnum)]
enum AdjustArg {
    #[default]
    Auto,
    On,
    Off,
}

impl ReadArgs {
    fn options(&self) -> IngestOptions {
        IngestOptions {
            symbol: self.symbol.clone(),
            timeframe: self.timeframe,
            adjustment: match self.adjust {
                AdjustArg::Auto => Adjustment::Auto,
                AdjustArg::On => Adjustment::On,
                AdjustArg::Off => Adjustment::Off,
            },
            strict: self.strict,
            timestamp_format: self.date_format.clone(),
            columns: ColumnOverrides {
                time: self.time_column.clone(),
                close: self.close_column.clone(),
                volume: self.volume_column.clone(),
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Only parse and validate; load nothing (no database needed).
    #[arg(long)]
    check: bool,
    /// The database (see `boltfleet train --help`); needed unless --check.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, required_unless_present = "check")]
    database_url: Option<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: ReadArgs,
    /// Bar files: CSV (optionally gzip-compressed) or Parquet.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

impl IngestArgs {
    fn ingest(&self) -> Ingest {
        let database = self
            .database_url
            .clone()
            .filter(|_| !self.check)
            .map(|url| fleet::config::DatabaseConfig { url });
        Ingest { database, json: self.json, options: self.read.options(), files: self.files.clone() }
    }
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// A bar file (CSV, gzip-compressed CSV or Parquet).
    file: PathBuf,
    /// Output file; `.parquet` writes Parquet, anything else CSV.
    #[arg(short, long)]
    out: PathBuf,
    /// Resample the bars to this coarser timeframe first.
    #[arg(long)]
    resample: Option<Timeframe>,
    /// Bars ahead for the label (default: the timeframe's).
    #[arg(long)]
    horizon: Option<usize>,
    /// Return threshold for BULLISH/BEARISH, e.g. 0.009 (default: the timeframe's).
    #[arg(long)]
    threshold: Option<f64>,
    #[command(flatten)]
    read: ReadArgs,
}

impl FeaturesArgs {
    fn features(&self) -> Features {
        Features {
            file: self.file.clone(),
            out: self.out.clone(),
            resample: self.resample,
            horizon: self.horizon,
            threshold: self.threshold,
            options: self.read.options(),
        }
    }
}

/// Which pairs a trigger covers; the default is every pair with bars.
#[derive(Debug, Default, Clone, Args)]
pub struct PairArgs {
    /// Symbols, comma-separated (default: every symbol with bars).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<Symbol>,
    /// Timeframes, comma-separated (default: every timeframe with bars).
    #[arg(long, value_delimiter = ',')]
    timeframes: Vec<Timeframe>,
}

impl PairArgs {
    pub fn pairs(&self) -> Pairs {
        Pairs { symbols: self.symbols.clone(), timeframes: self.timeframes.clone() }
    }
}

/// The services a trigger talks to.
#[derive(Debug, Clone, Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    store: StoreArgs,
}

impl ServicesArgs {
    fn services(&self) -> anyhow::Result<Services> {
        Ok(Services {
            database: self.database.config(),
            queue: self.queue.config()?,
            store: self.store.config(),
        })
    }
}

/// Whether and how long to follow the run.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Follow the run to its end, print a summary, and exit non-zero if a job failed.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = Wait::default().timeout_secs)]
    timeout_secs: u64,
    /// When no job has finished for this many seconds, check that a worker is alive on the
    /// queue and say so if none is.
    #[arg(long, default_value_t = Wait::default().no_progress_warning_secs)]
    no_progress_warning_secs: u64,
}

impl WaitArgs {
    fn wait(&self) -> Wait {
        Wait {
            wait: self.wait,
            timeout_secs: self.timeout_secs,
            no_progress_warning_secs: self.no_progress_warning_secs,
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pairs: PairArgs,
    #[command(flatten)]
    services: ServicesArgs,
    #[command(flatten)]
    training: TrainingArgs,
    /// Retrain pairs whose data and configuration were already trained on.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    wait: WaitArgs,
}

impl TrainArgs {
    fn train(&self) -> anyhow::Result<Train> {
        Ok(Train {
            pairs: self.pairs.pairs(),
            services: self.services.services()?,
            training: self.training.settings(),
            force: self.force,
            wait: self.wait.wait(),
        })
    }
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    #[command(flatten)]
    pairs: PairArgs,
    #[command(flatten)]
    services: ServicesArgs,
    /// Most recent bars sent with each forecast job (features need 69 at least).
    #[arg(long, default_value_t = Forecast::default().bars)]
    bars: usize,
    #[command(flatten)]
    wait: WaitArgs,
}

impl ForecastArgs {
    fn forecast(&self) -> anyhow::Result<Forecast> {
        Ok(Forecast {
            pairs: self.pairs.pairs(),
            services: self.services.services()?,
            bars: self.bars,
            wait: self.wait.wait(),
        })
    }
}

#[derive(Debug, Args)]
pub struct PingArgs {
    /// No-op jobs to send.
    #[arg(long, default_value_t = Ping::default().count)]
    count: usize,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    wait: WaitArgs,
}

impl PingArgs {
    fn ping(&self) -> anyhow::Result<Ping> {
        Ok(Ping {
            count: self.count,
            database: self.database.config(),
            queue: self.queue.config()?,
            wait: self.wait.wait(),
        })
    }
}

/// The composite confidence's weights and drift flag, the original pipeline's by default.
#[derive(Debug, Clone, Args)]
pub struct CompositeArgs {
    /// Weights of the backtest, walk-forward and live scores in the composite.
    #[arg(long, env = "COMPOSITE_WEIGHTS", value_delimiter = ',', default_values_t = CompositeRule::default().weights())]
    composite_weights: Vec<f64>,
    /// Flag drift when the live score is further than this from the backtest score.
    #[arg(long, env = "COMPOSITE_DRIFT_GAP", default_value_t = CompositeRule::default().drift_gap)]
    composite_drift_gap: f64,
}

impl CompositeArgs {
    fn rule(&self) -> anyhow::Result<CompositeRule> {
        CompositeRule::from_weights(&self.composite_weights, self.composite_drift_gap)
            .map_err(|problem| anyhow::anyhow!("--composite-weights: {problem}"))
    }
}

/// How `evaluate` judges the pairs.
#[derive(Debug, Args)]
pub struct JudgingArgs {
    #[command(flatten)]
    drift: DriftArgs,
    #[command(flatten)]
    composite: CompositeArgs,
    /// How each symbol's timeframes are reconciled: `duration` (longer bars weigh more),
    /// `majority` (of votes) or `performance` (weighted by live scores).
    #[arg(long, env = "CONSENSUS_RULE", default_value = consensus::Rule::default().as_str())]
    consensus_rule: consensus::Rule,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    services: ServicesArgs,
    #[command(flatten)]
    judging: JudgingArgs,
    /// The configuration of the retraining jobs a drift alert enqueues.
    #[command(flatten)]
    training: TrainingArgs,
}

impl EvaluateArgs {
    fn evaluate(&self) -> anyhow::Result<Evaluate> {
        evaluate(self.services.services()?, &self.judging, &self.training)
    }
}

fn evaluate(services: Services, judging: &JudgingArgs, training: &TrainingArgs) -> anyhow::Result<Evaluate> {
    Ok(Evaluate {
        services,
        drift: judging.drift.policy(),
        composite: judging.composite.rule()?,
        consensus_rule: judging.consensus_rule,
        training: training.settings(),
    })
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    services: ServicesArgs,
    /// When every pair is trained; `off` disables it. Default: the 1st of the month, 06:00 UTC.
    #[arg(long, env = "TRAIN_SCHEDULE")]
    train_schedule: Option<Cron>,
    /// When every pair is forecast; `off` disables it. Default: daily, 22:30 UTC.
    #[arg(long, env = "FORECAST_SCHEDULE")]
    forecast_schedule: Option<Cron>,
    /// When forecasts are scored and drift judged; `off` disables it. Default: daily, 23:00 UTC.
    #[arg(long, env = "EVALUATE_SCHEDULE")]
    evaluate_schedule: Option<Cron>,
    /// Most recent bars sent with each forecast job.
    #[arg(long, default_value_t = Forecast::default().bars)]
    bars: usize,
    #[command(flatten)]
    training: TrainingArgs,
    #[command(flatten)]
    judging: JudgingArgs,
}

impl ScheduleArgs {
    fn scheduled(&self) -> anyhow::Result<Scheduled> {
        let defaults = Scheduled::default();
        Ok(Scheduled {
            services: self.services.services()?,
            train_schedule: self.train_schedule.clone().unwrap_or(defaults.train_schedule),
            forecast_schedule: self.forecast_schedule.clone().unwrap_or(defaults.forecast_schedule),
            evaluate_schedule: self.evaluate_schedule.clone().unwrap_or(defaults.evaluate_schedule),
            train: Train { training: self.training.settings(), ..defaults.train },
            forecast: Forecast { bars: self.bars, ..defaults.forecast },
            evaluate: evaluate(Services::default(), &self.judging, &self.training)?,
        })
    }
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Every stored version: age, data range, validation accuracy vs baseline, and `latest`.
    List(FilterArgs),
    /// One version's manifest, as JSON.
    Show {
        /// The version, as `models list` prints it.
        version: String,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Delete versions older than an age; the version `latest` points at is always kept.
    Prune {
        /// Age, e.g. 90d, 12h.
        #[arg(long, value_parser = lifecycle::parse_age)]
        older_than: chrono::Duration,
        /// Print what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
}

impl ModelsCommand {
    fn models(&self) -> Models {
        match self {
            Self::List(filter) => Models::List(filter.filter()),
            Self::Show { version, filter } => {
                Models::Show { version: version.clone(), filter: filter.filter() }
            }
            Self::Prune { older_than, dry_run, filter } => {
                Models::Prune { older_than: *older_than, dry_run: *dry_run, filter: filter.filter() }
            }
        }
    }
}

#[derive(Debug, Args)]
struct FilterArgs {
    #[arg(long)]
    symbol: Option<Symbol>,
    #[arg(long)]
    timeframe: Option<Timeframe>,
}

impl FilterArgs {
    fn filter(&self) -> Filter {
        Filter { symbol: self.symbol.clone(), timeframe: self.timeframe }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        composite: CompositeArgs,
    }

    #[test]
    fn composite_weights_are_one_comma_separated_flag() {
        let rule = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("evaluate").chain(args.iter().copied()))
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.composite.rule().map_err(|e| e.to_string()))
        };
        assert_eq!(rule(&[]).unwrap(), CompositeRule::default());
        let chosen = rule(&["--composite-weights", "0.5,0.3,0.2", "--composite-drift-gap", "0.1"]).unwrap();
        assert_eq!((chosen.backtest, chosen.live, chosen.drift_gap), (0.5, 0.2, 0.1));
        assert!(rule(&["--composite-weights", "0.5,0.5"]).unwrap_err().contains("three weights"));
    }
}
