//! `boltfleet models list|show|prune`: the trained models in the artifact store.

use crate::ProducerError;
use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use fleet::config::StoreConfig;
use fleet::lifecycle;
use fleet::store::{ArtifactStore, LatestMark, StoredModel};
use ml_core::{Symbol, Timeframe};

/// What to do with the models of a store.
#[derive(Debug, Clone)]
pub enum Models {
    /// Every stored version: age, data range, validation accuracy vs baseline, and `latest`.
    List(Filter),
    /// One version's manifest, as JSON.
    Show { version: String, filter: Filter },
    /// Delete versions older than an age; the version `latest` points at is always kept.
    Prune { older_than: chrono::Duration, dry_run: bool, filter: Filter },
}

/// Which pairs' models; `None` is every one.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub symbol: Option<Symbol>,
    pub timeframe: Option<Timeframe>,
}

impl Filter {
    async fn models(&self, store: &ArtifactStore) -> Result<Vec<StoredModel>, ProducerError> {
        Ok(store.models(self.symbol.as_ref(), self.timeframe).await?)
    }
}

/// Lists, shows or prunes the models of `store`.
pub async fn run(command: Models, store: &StoreConfig) -> Result<ExitCode, ProducerError> {
    let store = ArtifactStore::open(store)?;
    let now = Utc::now();
    match command {
        Models::List(filter) => {
            print!("{}", table(&filter.models(&store).await?, now));
        }
        Models::Show { version, filter } => {
            let models = filter.models(&store).await?;
            let model = models.iter().find(|model| model.manifest.version == version).ok_or_else(|| {
                ProducerError::Refused(format!("no model version {version} in {}", store.url()))
            })?;
            println!("{}", serde_json::to_string_pretty(&model.manifest)?);
        }
        Models::Prune { older_than, dry_run, filter } => {
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
        out.push_str("no models: run `boltfleet train`\n");
    }
    out
}
