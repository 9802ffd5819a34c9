//! The results database's contract, on both dialects: a scratch Postgres database and a
//! SQLite file. Every statement the fleet runs is driven through `fleet::database` and must
//! read back the same on either. One named test per operation, on every backend
//! ([`database_contract!`]): a failure says which operation on which backend, and hides none
//! of the others.

use chrono::{DateTime, Duration, Utc};
use fleet::config::DatabaseConfig;
use fleet::database::Database;
use fleet::database::runs::RunStatus;
use fleet::database::views::{PairFilter, PairOrder};
use fleet::database::write::{ResultsWriter, row};
use ml_core::ingest::BarSeries;
use ml_core::job::ForecastOutcome;
use ml_core::job::{
    ArtifactRef, DriftAlert, ForecastStatus, JOB_SCHEMA_VERSION, JobResult, LiveScore, Outcome, Pair,
    Snapshot, TrainStatus,
};
use ml_core::model::artifact::Manifest;
use ml_core::model::scores::{Composite, Score, Scores};
use ml_core::model::{self, Forecast, TrainConfig, Trained};
use ml_core::{Bar, Timeframe};
use uuid::Uuid;

fn pair() -> Pair {
    Pair { symbol: "TEST".parse().unwrap(), timeframe: Timeframe::D1 }
}

/// Daily bars on a deterministic zig-zag that trends, from 2020-01-01.
fn bars(count: usize) -> Vec<Bar> {
    let start: DateTime<Utc> = "2020-01-01T00:00:00Z".parse().unwrap();
    (0..count)
        .map(|i| {
            let step = i as f64;
            let close = 100.0 + step * 0.1 + (step * 0.7).sin() * 3.0;
            Bar {
                ts: start + Duration::days(i64::try_from(i).unwrap()),
                open: close - 0.2,
                high: close + 1.0,
                low: close - 1.0,
                close,
                volume: 1_000.0 + step,
            }
        })
        .collect()
}

fn result(run_id: Uuid, finished_at: DateTime<Utc>, outcome: Outcome) -> JobResult {
    JobResult {
        schema_version: JOB_SCHEMA_VERSION,
        job_id: Uuid::new_v4(),
        run_id,
        worker_id: Some("contract-worker".to_owned()),
        started_at: Some(finished_at - Duration::seconds(3)),
        finished_at,
        outcome,
    }
}

async fn write(writer: &ResultsWriter, results: &[JobResult]) {
    let rows: Vec<_> = results.iter().map(row).collect();
    writer.insert(rows.iter().map(|(table, row)| (*table, row))).await.unwrap();
}

/// A migrated database with TEST d1's 320 bars, a small model trained on the first 300, and
/// one run's results written twice: a succeeded, a failed and an up-to-date training run, a
/// forecast at bar 300 and a ping.
struct Seeded {
    database: Database,
    writer: ResultsWriter,
    series: BarSeries,
    trained: Trained,
    snapshot: Snapshot,
    run_id: Uuid,
    now: DateTime<Utc>,
    succeeded: JobResult,
    failed: JobResult,
    up_to_date: JobResult,
    forecast: Forecast,
    predicted: JobResult,
}

/// A training result of `run_id` for TEST d1 on `snapshot`.
fn train_result(
    run_id: Uuid,
    snapshot: &Snapshot,
    status: TrainStatus,
    finished_at: DateTime<Utc>,
) -> JobResult {
    let outcome =
        Outcome::Train { pair: pair(), snapshot: snapshot.clone(), config_sha256: "cd".repeat(32), status };
    result(run_id, finished_at, outcome)
}

impl Seeded {
    async fn new(database: Database) -> Self {
        database.migrate().await.unwrap();
        let series = BarSeries { symbol: pair().symbol, timeframe: Timeframe::D1, bars: bars(320) };
        database.upsert_bars(&series, "contract").await.unwrap();
        // A succeeded, a failed and an up-to-date training run, a forecast, a ping.
        let history = &series.bars[..300];
        let mut config = TrainConfig::for_timeframe(Timeframe::D1);
        (config.forest.trees, config.boosting.rounds, config.threads) = (5, 5, 1);
        let training = BarSeries { bars: history.to_vec(), ..series.clone() };
        let trained = model::train(&training, &config, "2024-01-01T00:00:00Z".parse().unwrap()).unwrap();
        let snapshot = Snapshot {
            key: "bars/TEST/d1/contract.parquet".to_owned(),
            sha256: "ab".repeat(32),
            bars: history.len(),
            last_bar: history.last().unwrap().ts,
        };
        let run_id = Uuid::new_v4();
        let now = Utc::now();
        let succeeded = train_result(
            run_id,
            &snapshot,
            TrainStatus::Succeeded {
                artifact: ArtifactRef {
                    uri: "s3://artifacts/models/TEST/d1/v/".to_owned(),
                    version: trained.artifact.manifest.version.clone(),
                },
                evaluation: Box::new(trained.artifact.manifest.evaluation.clone()),
                promoted: true,
                promotion_note: None,
            },
            now - Duration::minutes(2),
        );
        let failed = train_result(
            run_id,
            &snapshot,
            TrainStatus::Failed { error: "<script>alert(1)</script>".to_owned() },
            now - Duration::minutes(1),
        );
        let up_to_date = train_result(
            run_id,
            &snapshot,
            TrainStatus::UpToDate { artifact_version: Some(trained.artifact.manifest.version.clone()) },
            now,
        );
        let forecast = model::predict(&trained.artifact.model, history).unwrap();
        let predicted = result(
            run_id,
            now,
            Outcome::Forecast {
                pair: pair(),
                status: ForecastStatus::Predicted {
                    forecast: forecast.clone(),
                    artifact_version: trained.artifact.manifest.version.clone(),
                },
            },
        );
        let ping = result(run_id, now, Outcome::Ping);
        let writer = ResultsWriter::new(database.clone());
        let all = [succeeded.clone(), failed.clone(), up_to_date.clone(), predicted.clone(), ping];
        write(&writer, &all).await;
        write(&writer, &all).await;
        Seeded {
            database,
            writer,
            series,
            trained,
            snapshot,
            run_id,
            now,
            succeeded,
            failed,
            up_to_date,
            forecast,
            predicted,
        }
    }

    fn manifest(&self) -> &Manifest {
        &self.trained.artifact.manifest
    }

    fn train(&self, status: TrainStatus, finished_at: DateTime<Utc>) -> JobResult {
        train_result(self.run_id, &self.snapshot, status, finished_at)
    }

    /// What `evaluate` records: the forecast scored, a drift alert of its model, and two
    /// live scores (the latest first, an older one recorded after it). The outcome.
    async fn evaluated(&self) -> ForecastOutcome {
        let due = self.database.due_forecasts().await.unwrap();
        let outcome = due[0].clone().score();
        let alert = DriftAlert {
            pair: pair(),
            artifact_version: Some(self.manifest().version.clone()),
            live_accuracy: 0.2,
            validation_accuracy: self.manifest().evaluation.ensemble.validation.accuracy.value,
            evaluated: 1,
            max_drop: 0.1,
            window_start: self.forecast.bar_ts,
            retrain_job_id: None,
        };
        let evaluation = [
            result(self.run_id, self.now, Outcome::ForecastOutcome(outcome.clone())),
            result(self.run_id, self.now, Outcome::DriftAlert(alert)),
        ];
        write(&self.writer, &evaluation).await;
        // The pair's live scores, the latest first and an older one recorded after it: the
        // overview shows the latest, the symbol page its scores.
        let scores = self.manifest().evaluation.scores.expect("a run's scores");
        let live_score = |value: f64, drift| LiveScore {
            pair: pair(),
            artifact_version: Some(self.manifest().version.clone()),
            evaluated: 1,
            scores: Scores { live: Some(Score { value, ..scores.backtest }), ..scores },
            composite: Composite { value, included: Vec::new(), missing: Vec::new(), drift: Some(drift) },
            live_accuracy: 0.0,
            majority_accuracy: 1.0,
            backtest: None,
        };
        let live_scores = [
            result(self.run_id, self.now, Outcome::LiveScore(Box::new(live_score(0.25, true)))),
            result(
                self.run_id,
                self.now - Duration::days(1),
                Outcome::LiveScore(Box::new(live_score(0.75, false))),
            ),
        ];
        write(&self.writer, &live_scores).await;
        outcome
    }
}

async fn migrations_apply_idempotently(database: Database) {
    assert!(database.migrate().await.unwrap() > 0, "the schema applies");
    assert_eq!(
        database.migrate().await.unwrap(),
        database.migrate().await.unwrap(),
        "and again, idempotently"
    );
}

async fn bars_load_once_and_read_back(database: Database) {
    database.migrate().await.unwrap();
    // Bars in, bars out.
    let series = BarSeries { symbol: pair().symbol, timeframe: Timeframe::D1, bars: bars(320) };
    let loaded = database.upsert_bars(&series, "contract").await.unwrap();
    assert_eq!((loaded.written, loaded.unchanged), (320, 0));
    let again = database.upsert_bars(&series, "contract").await.unwrap();
    assert_eq!((again.written, again.unchanged), (0, 320), "the same bars are unchanged");
    assert_eq!(database.pairs(&[], &[]).await.unwrap(), [pair()]);
    assert_eq!(database.pairs(&["OTHER".parse().unwrap()], &[]).await.unwrap(), []);
    assert_eq!(database.pairs(&[], &[Timeframe::H1]).await.unwrap(), []);
    assert_eq!(database.bars(&pair(), None).await.unwrap(), series.bars);
    assert_eq!(database.bars(&pair(), Some(5)).await.unwrap(), series.bars[315..]);
    // The last bars of many pairs at once: each pair's own, in the order asked, none for a
    // pair without bars, all of a pair with fewer.
    let weekly = BarSeries { symbol: pair().symbol, timeframe: Timeframe::W1, bars: bars(3) };
    database.upsert_bars(&weekly, "contract").await.unwrap();
    let weekly_pair = Pair { symbol: pair().symbol, timeframe: Timeframe::W1 };
    let no_bars = Pair { symbol: "NONE".parse().unwrap(), timeframe: Timeframe::D1 };
    assert_eq!(
        database.last_bars_of_pairs(&[pair(), no_bars, weekly_pair], 5).await.unwrap(),
        [series.bars[315..].to_vec(), Vec::new(), weekly.bars]
    );
    assert!(database.last_bars_of_pairs(&[], 5).await.unwrap().is_empty());
}

async fn bars_loaded_twice_at_once_go_in_once_and_overlaps_merge(database: Database) {
    database.migrate().await.unwrap();
    // The symbol known already (recording a new one would make the second load wait).
    let weekly = BarSeries { symbol: pair().symbol, timeframe: Timeframe::W1, bars: bars(10) };
    database.upsert_bars(&weekly, "weekly").await.unwrap();
    let series = BarSeries { symbol: pair().symbol, timeframe: Timeframe::D1, bars: bars(320) };
    // Two loads of the same new bars at once: on Postgres new bars go straight in by COPY,
    // which a second load racing the first would break on the primary key.
    let (first, second) =
        tokio::join!(database.upsert_bars(&series, "one"), database.upsert_bars(&series, "two"));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(
        (first.written + second.written, first.unchanged + second.unchanged),
        (320, 320),
        "one load wrote every bar, the other found them unchanged: {first:?} {second:?}"
    );
    // Bars that overlap stored ones: the last 20 changed, 20 more new.
    let mut revised = bars(340);
    for bar in &mut revised[300..320] {
        bar.close += 0.5;
        bar.high += 0.5;
    }
    let revised = BarSeries { bars: revised, ..series };
    let loaded = database.upsert_bars(&revised, "revised").await.unwrap();
    assert_eq!((loaded.written, loaded.unchanged), (40, 300));
    assert_eq!(database.bars(&pair(), None).await.unwrap(), revised.bars);
}

async fn runs_are_one_typed_row_per_job(database: Database) {
    let seeded = Seeded::new(database).await;
    let Seeded { database, snapshot, succeeded, failed, up_to_date, .. } = &seeded;
    let manifest = seeded.manifest();
    let accuracy = &manifest.evaluation.ensemble.validation.accuracy;
    let ids: Vec<Uuid> = [&succeeded, &failed, &up_to_date].map(|r| r.job_id).to_vec();
    let mut runs = database.train_rows(&ids).await.unwrap();
    runs.sort_by_key(|row| row.finished_at);
    let statuses: Vec<RunStatus> = runs.iter().map(|row| row.status).collect();
    assert_eq!(
        statuses,
        [RunStatus::Succeeded, RunStatus::Failed, RunStatus::UpToDate],
        "one row per job, typed"
    );
    assert_eq!(runs[0].ensemble_accuracy, Some(accuracy.value));
    assert_eq!(runs[0].artifact_version.as_deref(), Some(manifest.version.as_str()));
    assert_eq!(runs[0].trials, 1, "the pair's first succeeded run");
    assert!(runs[0].return_moments.is_some(), "the backtest's moments are read from the evaluation");
    assert_eq!(runs[1].error.as_deref(), Some("<script>alert(1)</script>"), "text is stored as it came");
    assert_eq!(
        database.up_to_date(&pair(), &snapshot.sha256, "cd".repeat(32).as_str()).await.unwrap(),
        Some(manifest.version.clone())
    );
    assert_eq!(database.up_to_date(&pair(), "other", "cd").await.unwrap(), None);
}

async fn the_overview_row_is_the_pairs_latest_run_and_forecast(database: Database) {
    let seeded = Seeded::new(database).await;
    let Seeded { database, writer, run_id, now, forecast, predicted, .. } = &seeded;
    let manifest = seeded.manifest();
    let accuracy = &manifest.evaluation.ensemble.validation.accuracy;
    // The overview's row of the pair: its latest succeeded run and ensemble forecast, kept
    // as the results went in; an older run recorded late does not replace the latest.
    let older = seeded.train(
        TrainStatus::Succeeded {
            artifact: ArtifactRef {
                uri: "s3://artifacts/models/TEST/d1/old/".to_owned(),
                version: "old".to_owned(),
            },
            evaluation: Box::new(manifest.evaluation.clone()),
            promoted: true,
            promotion_note: None,
        },
        *now - Duration::days(30),
    );
    write(writer, std::slice::from_ref(&older)).await;
    let all_pairs = PairFilter { limit: 50, ..PairFilter::default() };
    let (pairs, total) = database.pair_summaries(&all_pairs).await.unwrap();
    assert_eq!((total, pairs.len()), (1, 1), "{pairs:?}");
    let summary = &pairs[0];
    assert_eq!(summary.artifact_version.as_deref(), Some(manifest.version.as_str()), "the latest run");
    assert_eq!(summary.ensemble_accuracy, Some(accuracy.value));
    assert_eq!(summary.trained_composite, manifest.evaluation.composite.as_ref().map(|c| c.value));
    assert_eq!(summary.forecast_direction.as_deref(), Some(forecast.direction.as_str()));
    assert_eq!(summary.forecast_bullish, Some(forecast.probabilities[2]));
    assert_eq!(summary.scores(), None, "the overview reads no scores");
    let of_symbol = database.symbol_summaries("TEST").await.unwrap();
    assert_eq!(of_symbol.len(), 1);
    assert_eq!(of_symbol[0].scores(), manifest.evaluation.scores.as_ref(), "the symbol page reads them");
    let forecasts = database.forecast_rows(&[predicted.job_id]).await.unwrap();
    assert_eq!(forecasts.len(), 1);
    assert!(forecasts[0].is_trained_ensemble);
    assert_eq!(forecasts[0].direction.as_deref(), Some(forecast.direction.as_str()));
    assert_eq!(database.pings(*run_id).await.unwrap(), 1);
    let live = database.live_forecasts(&pair(), 10).await.unwrap();
    assert_eq!(live.len(), 1, "the model page's forecasts: {live:?}");
    assert_eq!((live[0].direction.as_deref(), live[0].correct), (Some(forecast.direction.as_str()), None));
}

async fn evaluate_reads_due_forecasts_signals_and_model_records(database: Database) {
    let seeded = Seeded::new(database).await;
    let Seeded { database, series, forecast, .. } = &seeded;
    let manifest = seeded.manifest();
    let accuracy = &manifest.evaluation.ensemble.validation.accuracy;
    // What evaluate reads: the forecast is due (its horizon bars exist), then scored.
    let due = database.due_forecasts().await.unwrap();
    assert_eq!(due.len(), 1, "the forecast's horizon has passed");
    let close_at = series.bars[299].close;
    let horizon_bar = &series.bars[300 + forecast.horizon - 1];
    assert_eq!(
        (due[0].close_at, due[0].close_after, due[0].realized_at),
        (close_at, horizon_bar.close, horizon_bar.ts)
    );
    assert_eq!(due[0].close_next, Some(series.bars[300].close));
    let outcome = due[0].clone().score();
    assert_eq!(
        (&outcome.pair, outcome.horizon),
        (&pair(), forecast.horizon),
        "scored as its pair, at its horizon"
    );
    let signals = database.forecast_signals(forecast.bar_ts).await.unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].probabilities, forecast.probabilities);
    let record = database.model_record(&manifest.version).await.unwrap();
    assert_eq!(record.validation_accuracy, Some(accuracy.value));
    assert_eq!(record.majority_class, Some(manifest.evaluation.baselines.majority_class));
}

async fn outcomes_live_scores_and_alerts_read_back(database: Database) {
    let seeded = Seeded::new(database).await;
    let Seeded { database, forecast, .. } = &seeded;
    let manifest = seeded.manifest();
    let outcome = seeded.evaluated().await;
    let all_pairs = PairFilter { limit: 50, ..PairFilter::default() };
    let (pairs, _) = database.pair_summaries(&all_pairs).await.unwrap();
    assert_eq!(
        (pairs[0].live_score, pairs[0].live_composite, pairs[0].composite_drift),
        (Some(0.25), Some(0.25), Some(true))
    );
    assert!(pairs[0].drift_alerted, "the alert names the pair's model");
    let of_symbol = database.symbol_summaries("TEST").await.unwrap();
    assert_eq!(of_symbol[0].scores().and_then(|s| s.live.as_ref()).map(|s| s.value), Some(0.25));
    assert!(database.due_forecasts().await.unwrap().is_empty(), "a scored forecast is not due again");
    let scored = database.scored_forecasts(forecast.bar_ts).await.unwrap();
    assert_eq!(scored.len(), 1);
    assert_eq!(scored[0], fleet::database::scoring::Scored::of_outcome(&outcome));
    assert!(database.scored_forecasts(forecast.bar_ts + Duration::days(1)).await.unwrap().is_empty());
    let live = database.live_forecasts(&pair(), 10).await.unwrap();
    assert_eq!(live[0].realized.as_deref(), Some(outcome.realized.as_str()), "with its outcome once scored");
    assert_eq!(live[0].correct, Some(outcome.predicted == outcome.realized));
    assert_eq!(live[0].realized_return, Some(outcome.realized_return));
    assert_eq!(database.drift_alerted().await.unwrap(), [(pair(), Some(manifest.version.clone()))]);
}

async fn the_overview_filters_sorts_and_pages_in_sql(database: Database) {
    let seeded = Seeded::new(database).await;
    let Seeded { database, writer, snapshot, run_id, now, .. } = &seeded;
    let manifest = seeded.manifest();
    let accuracy = &manifest.evaluation.ensemble.validation.accuracy;
    seeded.evaluated().await;
    // The overview filters, sorts and pages in SQL: a worse model on OTHER h1 that does not
    // beat its baselines, and OTHER d1 with only a failed run.
    let other = |timeframe| Pair { symbol: "OTHER".parse().unwrap(), timeframe };
    let registered =
        BarSeries { symbol: other(Timeframe::D1).symbol, timeframe: Timeframe::D1, bars: bars(5) };
    database.upsert_bars(&registered, "contract").await.unwrap();
    let mut worse = manifest.evaluation.clone();
    worse.ensemble.validation.accuracy.value = accuracy.value / 2.0;
    worse.verdict.beats_majority = false;
    let beats = manifest.evaluation.verdict.beats_majority && manifest.evaluation.verdict.beats_persistence;
    let on = |pair: Pair, status| {
        let outcome =
            Outcome::Train { pair, snapshot: snapshot.clone(), config_sha256: "cd".repeat(32), status };
        result(*run_id, *now, outcome)
    };
    let others = [
        on(
            other(Timeframe::H1),
            TrainStatus::Succeeded {
                artifact: ArtifactRef {
                    uri: "s3://artifacts/models/OTHER/h1/v/".to_owned(),
                    version: "v".to_owned(),
                },
                evaluation: Box::new(worse),
                promoted: true,
                promotion_note: None,
            },
        ),
        on(other(Timeframe::D1), TrainStatus::Failed { error: "too few bars".to_owned() }),
    ];
    write(writer, &others).await;
    let listed = |filter: PairFilter| {
        let database = database.clone();
        async move {
            let (pairs, total) = database.pair_summaries(&PairFilter { limit: 50, ..filter }).await.unwrap();
            let names: Vec<String> = pairs.iter().map(|p| format!("{} {}", p.symbol, p.timeframe)).collect();
            (names, total)
        }
    };
    let names = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    assert_eq!(listed(PairFilter::default()).await, (names(&["OTHER d1", "OTHER h1", "TEST d1"]), 3));
    let by_accuracy = PairFilter { order: PairOrder::Accuracy, ..PairFilter::default() };
    assert_eq!(
        listed(by_accuracy).await.0,
        names(&["TEST d1", "OTHER h1", "OTHER d1"]),
        "best first, none last"
    );
    let prefix = PairFilter { symbol_prefix: "TE".to_owned(), ..PairFilter::default() };
    assert_eq!(listed(prefix).await, (names(&["TEST d1"]), 1));
    let hourly = PairFilter { timeframe: Some("h1".to_owned()), ..PairFilter::default() };
    assert_eq!(listed(hourly).await.0, names(&["OTHER h1"]));
    let beating = PairFilter { beats_baselines: Some(beats), ..PairFilter::default() };
    let expected: &[&str] = if beats { &["TEST d1"] } else { &["OTHER d1", "OTHER h1", "TEST d1"] };
    assert_eq!(listed(beating).await.0, names(expected));
    let drifting = PairFilter { drifting: Some(true), ..PairFilter::default() };
    assert_eq!(listed(drifting).await.0, names(&["TEST d1"]), "the alert names TEST's model");
    let steady = PairFilter { drifting: Some(false), ..PairFilter::default() };
    assert_eq!(listed(steady).await.0, names(&["OTHER d1", "OTHER h1"]));
    let (second, total) =
        database.pair_summaries(&PairFilter { limit: 1, offset: 1, ..PairFilter::default() }).await.unwrap();
    assert_eq!(
        (second.len(), second[0].timeframe.as_str(), total),
        (1, "h1", 3),
        "a page of one, and the count"
    );
}

/// A new SQLite file, and the folder that holds it.
async fn sqlite() -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::connect(&DatabaseConfig::sqlite(&dir.path().join("results.db"))).await.unwrap();
    (database, dir)
}

/// A new Postgres database, created as `boltfleet collector migrate` creates one, dropped
/// with its guard.
async fn postgres() -> (Database, test_support::ScratchDatabase) {
    let scratch = test_support::ScratchDatabase::reserve("database_contract");
    assert!(Database::create_if_missing(&scratch.config()).await.unwrap(), "a missing database is created");
    (Database::connect(&scratch.config()).await.unwrap(), scratch)
}

/// One test per operation of the contract on a backend's fresh database (`$open`).
macro_rules! database_contract {
    ($($backend:ident => $open:ident),* $(,)?) => {$(
        mod $backend {
            database_contract!(@tests $open: migrations_apply_idempotently, bars_load_once_and_read_back,
                bars_loaded_twice_at_once_go_in_once_and_overlaps_merge, runs_are_one_typed_row_per_job, the_overview_row_is_the_pairs_latest_run_and_forecast,
                evaluate_reads_due_forecasts_signals_and_model_records, outcomes_live_scores_and_alerts_read_back,
                the_overview_filters_sorts_and_pages_in_sql);
        }
    )*};
    (@tests $open:ident: $($operation:ident),*) => {$(
        // Multi-threaded: the seeded runs train a small model, and polars blocks in place only there.
        #[tokio::test(flavor = "multi_thread")]
        async fn $operation() {
            let (database, _keep) = super::$open().await;
            super::$operation(database).await;
        }
    )*};
}

database_contract!(sqlite => sqlite, postgres => postgres);

/// Only the collector writes results: no other crate's source names the writer.
#[test]
fn only_the_collector_names_the_results_writer() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    for krate in [
        "producer",
        "worker",
        "dashboard/src",
        "boltfleet",
        "ml-core",
        "fleet/src/queue",
        "fleet/src/store.rs",
    ] {
        let mut stack = vec![root.join(krate)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
            } else if path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path).unwrap().contains("ResultsWriter")
            {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(offenders.is_empty(), "only the collector writes results: {offenders:?}");
}
