-- supabase/migrations/20261204000000_pair_latest.sql in SQLite's types: one row per pair
-- with what the overview shows of it, kept by triggers as results are inserted. Here the
-- table also keeps the overview off the runs' rows, whose columns after `evaluation` (tens
-- of KB of JSON) sit behind its overflow pages.

create table if not exists pair_latest (
    symbol                 text not null,
    timeframe              text not null,
    run_job_id             text,
    artifact_version       text,
    trained_at             text,
    ensemble_accuracy      real,
    ensemble_accuracy_low  real,
    ensemble_accuracy_high real,
    majority_accuracy      real,
    beats_baselines        integer,
    walk_forward_score     real,
    backtest_score         real,
    trained_composite      real,
    rf_weight              real,
    gb_weight              real,
    live_job_id            text,
    live_evaluated_at      text,
    live_score             real,
    live_composite         real,
    composite_drift        integer,
    forecast_direction     text,
    forecast_confidence    real,
    forecast_bearish       real,
    forecast_neutral       real,
    forecast_bullish       real,
    forecast_at            text,
    primary key (symbol, timeframe)
);

create trigger if not exists training_runs_pair_latest after insert on training_runs
begin
    insert into pair_latest (symbol, timeframe) values (new.symbol, new.timeframe) on conflict do nothing;
    update pair_latest set run_job_id = new.job_id, artifact_version = new.artifact_version,
           trained_at = new.finished_at, ensemble_accuracy = new.ensemble_accuracy,
           ensemble_accuracy_low = new.ensemble_accuracy_low,
           ensemble_accuracy_high = new.ensemble_accuracy_high,
           majority_accuracy = new.majority_accuracy, beats_baselines = new.beats_baselines,
           walk_forward_score = new.walk_forward_score, backtest_score = new.backtest_score,
           trained_composite = new.composite, rf_weight = new.rf_weight, gb_weight = new.gb_weight
    where new.status = 'succeeded' and symbol = new.symbol and timeframe = new.timeframe
      and (trained_at is null or trained_at < new.finished_at);
end;

create trigger if not exists ml_forecasts_pair_latest after insert on ml_forecasts
begin
    insert into pair_latest (symbol, timeframe) values (new.symbol, new.timeframe) on conflict do nothing;
    update pair_latest set forecast_direction = new.direction, forecast_confidence = new.confidence,
           forecast_bearish = new.prob_bearish, forecast_neutral = new.prob_neutral,
           forecast_bullish = new.prob_bullish, forecast_at = new.generated_at
    where new.is_trained_ensemble and symbol = new.symbol and timeframe = new.timeframe
      and (forecast_at is null or forecast_at < new.generated_at);
end;

create trigger if not exists live_scores_pair_latest after insert on live_scores
begin
    insert into pair_latest (symbol, timeframe) values (new.symbol, new.timeframe) on conflict do nothing;
    update pair_latest set live_job_id = new.job_id, live_evaluated_at = new.evaluated_at,
           live_score = new.live_score, live_composite = new.composite,
           composite_drift = new.composite_drift
    where symbol = new.symbol and timeframe = new.timeframe
      and (live_evaluated_at is null or live_evaluated_at < new.evaluated_at);
end;

-- The results recorded before this migration.
insert into pair_latest (symbol, timeframe)
    select symbol, timeframe from training_runs union select symbol, timeframe from ml_forecasts
    union select symbol, timeframe from live_scores
    where true on conflict do nothing;
update pair_latest set (run_job_id, artifact_version, trained_at, ensemble_accuracy, ensemble_accuracy_low,
                        ensemble_accuracy_high, majority_accuracy, beats_baselines, walk_forward_score,
                        backtest_score, trained_composite, rf_weight, gb_weight) =
    (select job_id, artifact_version, finished_at, ensemble_accuracy, ensemble_accuracy_low,
            ensemble_accuracy_high, majority_accuracy, beats_baselines, walk_forward_score,
            backtest_score, composite, rf_weight, gb_weight
     from training_runs r
     where r.symbol = pair_latest.symbol and r.timeframe = pair_latest.timeframe and r.status = 'succeeded'
     order by r.finished_at desc limit 1);
update pair_latest set (forecast_direction, forecast_confidence, forecast_bearish, forecast_neutral,
                        forecast_bullish, forecast_at) =
    (select direction, confidence, prob_bearish, prob_neutral, prob_bullish, generated_at
     from ml_forecasts f
     where f.symbol = pair_latest.symbol and f.timeframe = pair_latest.timeframe and f.is_trained_ensemble
     order by f.generated_at desc limit 1);
update pair_latest set (live_job_id, live_evaluated_at, live_score, live_composite, composite_drift) =
    (select job_id, evaluated_at, live_score, composite, composite_drift
     from live_scores l
     where l.symbol = pair_latest.symbol and l.timeframe = pair_latest.timeframe
     order by l.evaluated_at desc limit 1);

drop index if exists training_runs_pair_summary;
