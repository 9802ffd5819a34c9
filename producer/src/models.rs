//! `producer models list|show|prune`: the trained models in the artifact store.

use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use fleet::config::StoreArgs;
use fleet::lifecycle;
use fleet::store::{ArtifactStore, LatestMark, StoredModel};
use shared::{Symbol, Timeframe};

#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Every stored version: age, data range, validation accuracy vs baseline, and `latest`.
    List(Filter),
    /// One version's manifest, as JSON.
    Show {
        /// The version, as `models list` prints it.
        version: String,
        #[command(flatten)]
        filter: Filter,
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
        filter: Filter,
    },
}

#[derive(Debug, Args)]
struct Filter {
    #[arg(long)]
    symbol: Option<Symbol>,
    #[arg(long)]
    timeframe: Option<Timeframe>,
}

impl Filter {
    async fn models(&self, store: &ArtifactStore) -> anyhow::Result<Vec<StoredModel>> {
        Ok(store.models(self.symbol.as_ref(), self.timeframe).await?)
    }
}

pub(crate) async fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let store = ArtifactStore::open(&args.store)?;
    let now = Utc::now();
    match args.command {
        ModelsCommand::List(filter) => {
            print!("{}", table(&filter.models(&store).await?, now));
        }
        ModelsCommand::Show { version, filter } => {
            let models = filter.models(&store).await?;
            let model = models
                .iter()
                .find(|model| model.manifest.version == version)
                .ok_or_else(|| anyhow::anyhow!("no model version {version} in {}", store.url()))?;
            println!("{}", serde_json::to_string_pretty(&model.manifest)?);
        }
        ModelsCommand::Prune { older_than, dry_run, filter } => {
            let cutoff = now - older_than;
            let mut pruned = 0;
            for model in filter.models(&store).await? {
                if !lifecycle::prunable(model.manifest.created_at, model.latest.may_be_latest(), cutoff) {
                    continue;
                }
                let (pair, version) = (model.pair(), &model.manifest.version);
                if !dry_run {
                    store.delete_model(&pair, version).await?;
                }
                println!(
                    "{} {pair} {version} ({})",
                    if dry_run { "would delete" } else { "deleted" },
                    age(model.manifest.created_at, now)
                );
                pruned += 1;
            }
            let verb = if dry_run { "would be deleted" } else { "deleted" };
            println!(
                "{pruned} versions older than {} {verb}; latest versions are kept",
                cutoff.format("%Y-%m-%d %H:%M UTC")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn age(created_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let age = now - created_at;
    if age.num_days() > 0 { format!("{}d", age.num_days()) } else { format!("{}h", age.num_hours()) }
}

fn table(models: &[StoredModel], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<4} {:<30} {:<17} {:>5} {:<23} {:<22} {:<8} LATEST",
        "SYMBOL", "TF", "VERSION", "CREATED", "AGE", "DATA", "VALIDATION ACC", "MAJORITY"
    );
    for StoredModel { manifest, latest } in models {
        let accuracy = &manifest.evaluation.ensemble.validation.accuracy;
        let _ = writeln!(
            out,
            "{:<10} {:<4} {:<30} {:<17} {:>5} {:<23} {:<22} {:<8.3} {}",
            manifest.symbol.as_str(),
            manifest.timeframe.as_str(),
            manifest.version,
            manifest.created_at.format("%Y-%m-%d %H:%M"),
            age(manifest.created_at, now),
            format!(
                "{} to {}",
                manifest.data.first_bar.format("%Y-%m-%d"),
                manifest.data.last_bar.format("%Y-%m-%d")
            ),
            format!("{:.3} [{:.3}, {:.3}]", accuracy.value, accuracy.low, accuracy.high),
            manifest.evaluation.baselines.majority.accuracy.value,
            match latest {
                LatestMark::Latest => "*".to_owned(),
                LatestMark::Older => String::new(),
                LatestMark::Unknown(reason) => format!("? ({reason})"),
            },
        );
    }
    if models.is_empty() {
        out.push_str("no models: run `producer train`\n");
    }
    out
}
