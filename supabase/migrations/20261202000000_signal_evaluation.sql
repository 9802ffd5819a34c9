-- Signals a quant can judge (issue 13): the numbers a person scans, as columns beside the
-- full evaluation (whose JSON keeps the equity curves and reliability bins); docs/metrics.md
-- defines each. The deflated Sharpe ratio is not stored: its number of trials grows with
-- every model the pair trains, so readers compute it.

alter table training_runs add column if not exists ensemble_rule text;
alter table training_runs add column if not exists threshold_rule text;
alter table training_runs add column if not exists label_threshold double precision;
alter table training_runs add column if not exists walk_forward_accuracy double precision;
alter table training_runs add column if not exists walk_forward_majority_accuracy double precision;
alter table training_runs add column if not exists backtest_total_return double precision;
alter table training_runs add column if not exists backtest_sharpe double precision;
alter table training_runs add column if not exists probabilistic_sharpe double precision;
alter table training_runs add column if not exists buy_hold_total_return double precision;
alter table training_runs add column if not exists buy_hold_sharpe double precision;
alter table training_runs add column if not exists backtest_score double precision;
alter table training_runs add column if not exists walk_forward_score double precision;
alter table training_runs add column if not exists composite double precision;
alter table training_runs add column if not exists calibration_ece double precision;

-- The return from a forecast's bar to the next one, which its position earns in the live
-- backtest (null for outcomes scored before it was recorded).
alter table forecast_outcomes add column if not exists next_return double precision;

-- One row per pair and evaluation: the current model's live score and the backtest of its
-- realised signals, beside the training scores, their composite and the drift flag.
create table if not exists live_scores (
    job_id            uuid primary key,
    run_id            uuid not null,
    symbol            text not null,
    timeframe         text not null,
    artifact_version  text,
    evaluated         integer not null,
    live_accuracy     double precision not null,
    majority_accuracy double precision not null,
    live_score        double precision,
    backtest_score    double precision,
    composite         double precision,
    composite_drift   boolean,
    live_sharpe       double precision,
    live_total_return double precision,
    buy_hold_total_return double precision,
    scores            jsonb not null,
    backtest          jsonb,
    evaluated_at      timestamptz not null
);

create index if not exists live_scores_pair on live_scores (symbol, timeframe, evaluated_at desc);

alter table live_scores enable row level security;
drop policy if exists live_scores_service_role_all on live_scores;
create policy live_scores_service_role_all on live_scores for all to service_role using (true) with check (true);
drop policy if exists live_scores_authenticated_read on live_scores;
create policy live_scores_authenticated_read on live_scores for select to authenticated using (true);
grant select, insert, update, delete on live_scores to service_role;
grant select on live_scores to authenticated;
