-- One row per pair: what the dashboard's overview shows of it, its latest succeeded run,
-- live score and ensemble forecast. Triggers keep it as the collector inserts results, in
-- the same transaction, so the overview reads 5,000 narrow rows (filtered, sorted and paged
-- in SQL) instead of ranking every run, score and forecast on each request
-- (docs/benchmarks.md). The covering index of 20261203000000 served that ranking: dropped.

create table if not exists pair_latest (
    symbol                 text not null,
    timeframe              text not null,
    -- The latest succeeded training run (by finished_at).
    run_job_id             text,
    artifact_version       text,
    trained_at             timestamptz,
    ensemble_accuracy      double precision,
    ensemble_accuracy_low  double precision,
    ensemble_accuracy_high double precision,
    majority_accuracy      double precision,
    beats_baselines        boolean,
    walk_forward_score     double precision,
    backtest_score         double precision,
    trained_composite      double precision,
    rf_weight              double precision,
    gb_weight              double precision,
    -- The latest live score (by evaluated_at).
    live_job_id            uuid,
    live_evaluated_at      timestamptz,
    live_score             double precision,
    live_composite         double precision,
    composite_drift        boolean,
    -- The latest forecast of a trained ensemble (by generated_at).
    forecast_direction     text,
    forecast_confidence    double precision,
    forecast_bearish       double precision,
    forecast_neutral       double precision,
    forecast_bullish       double precision,
    forecast_at            timestamptz,
    primary key (symbol, timeframe)
);

-- Statement triggers over the inserted rows (a transition table): a batch of results costs
-- one upsert per table, not one per row (row triggers doubled the time of a 10,000-forecast
-- insert; docs/benchmarks.md). A row skipped by `on conflict do nothing` is not in `inserted`.
create or replace function pair_latest_of_runs() returns trigger language plpgsql as $$
begin
    insert into pair_latest (symbol, timeframe) select distinct symbol, timeframe from inserted
        on conflict do nothing;
    update pair_latest p set run_job_id = r.job_id, artifact_version = r.artifact_version,
           trained_at = r.finished_at, ensemble_accuracy = r.ensemble_accuracy,
           ensemble_accuracy_low = r.ensemble_accuracy_low, ensemble_accuracy_high = r.ensemble_accuracy_high,
           majority_accuracy = r.majority_accuracy, beats_baselines = r.beats_baselines,
           walk_forward_score = r.walk_forward_score, backtest_score = r.backtest_score,
           trained_composite = r.composite, rf_weight = r.rf_weight, gb_weight = r.gb_weight
    from (select distinct on (symbol, timeframe) * from inserted where status = 'succeeded'
          order by symbol, timeframe, finished_at desc) r
    where r.symbol = p.symbol and r.timeframe = p.timeframe
      and (p.trained_at is null or p.trained_at < r.finished_at);
    return null;
end
$$;

create or replace function pair_latest_of_forecasts() returns trigger language plpgsql as $$
begin
    insert into pair_latest (symbol, timeframe) select distinct symbol, timeframe from inserted
        on conflict do nothing;
    update pair_latest p set forecast_direction = f.direction, forecast_confidence = f.confidence,
           forecast_bearish = f.prob_bearish, forecast_neutral = f.prob_neutral,
           forecast_bullish = f.prob_bullish, forecast_at = f.generated_at
    from (select distinct on (symbol, timeframe) * from inserted where is_trained_ensemble
          order by symbol, timeframe, generated_at desc) f
    where f.symbol = p.symbol and f.timeframe = p.timeframe
      and (p.forecast_at is null or p.forecast_at < f.generated_at);
    return null;
end
$$;

create or replace function pair_latest_of_live_scores() returns trigger language plpgsql as $$
begin
    insert into pair_latest (symbol, timeframe) select distinct symbol, timeframe from inserted
        on conflict do nothing;
    update pair_latest p set live_job_id = l.job_id, live_evaluated_at = l.evaluated_at,
           live_score = l.live_score, live_composite = l.composite, composite_drift = l.composite_drift
    from (select distinct on (symbol, timeframe) * from inserted order by symbol, timeframe, evaluated_at desc) l
    where l.symbol = p.symbol and l.timeframe = p.timeframe
      and (p.live_evaluated_at is null or p.live_evaluated_at < l.evaluated_at);
    return null;
end
$$;

drop trigger if exists training_runs_pair_latest on training_runs;
create trigger training_runs_pair_latest after insert on training_runs
    referencing new table as inserted for each statement execute function pair_latest_of_runs();
drop trigger if exists ml_forecasts_pair_latest on ml_forecasts;
create trigger ml_forecasts_pair_latest after insert on ml_forecasts
    referencing new table as inserted for each statement execute function pair_latest_of_forecasts();
drop trigger if exists live_scores_pair_latest on live_scores;
create trigger live_scores_pair_latest after insert on live_scores
    referencing new table as inserted for each statement execute function pair_latest_of_live_scores();

-- The results recorded before this migration.
insert into pair_latest (symbol, timeframe)
    select symbol, timeframe from training_runs union select symbol, timeframe from ml_forecasts
    union select symbol, timeframe from live_scores
    on conflict do nothing;
update pair_latest p set run_job_id = r.job_id, artifact_version = r.artifact_version,
       trained_at = r.finished_at, ensemble_accuracy = r.ensemble_accuracy,
       ensemble_accuracy_low = r.ensemble_accuracy_low, ensemble_accuracy_high = r.ensemble_accuracy_high,
       majority_accuracy = r.majority_accuracy, beats_baselines = r.beats_baselines,
       walk_forward_score = r.walk_forward_score, backtest_score = r.backtest_score,
       trained_composite = r.composite, rf_weight = r.rf_weight, gb_weight = r.gb_weight
from (select distinct on (symbol, timeframe) * from training_runs where status = 'succeeded'
      order by symbol, timeframe, finished_at desc) r
where r.symbol = p.symbol and r.timeframe = p.timeframe;
update pair_latest p set forecast_direction = f.direction, forecast_confidence = f.confidence,
       forecast_bearish = f.prob_bearish, forecast_neutral = f.prob_neutral,
       forecast_bullish = f.prob_bullish, forecast_at = f.generated_at
from (select distinct on (symbol, timeframe) * from ml_forecasts where is_trained_ensemble
      order by symbol, timeframe, generated_at desc) f
where f.symbol = p.symbol and f.timeframe = p.timeframe;
update pair_latest p set live_job_id = l.job_id, live_evaluated_at = l.evaluated_at,
       live_score = l.live_score, live_composite = l.composite, composite_drift = l.composite_drift
from (select distinct on (symbol, timeframe) * from live_scores
      order by symbol, timeframe, evaluated_at desc) l
where l.symbol = p.symbol and l.timeframe = p.timeframe;

drop index if exists training_runs_pair_summary;

alter table pair_latest enable row level security;
drop policy if exists pair_latest_service_role_all on pair_latest;
create policy pair_latest_service_role_all on pair_latest for all to service_role using (true) with check (true);
drop policy if exists pair_latest_authenticated_read on pair_latest;
create policy pair_latest_authenticated_read on pair_latest for select to authenticated using (true);
grant select, insert, update, delete on pair_latest to service_role;
grant select on pair_latest to authenticated;
