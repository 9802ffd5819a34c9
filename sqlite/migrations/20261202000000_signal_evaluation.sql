-- supabase/migrations/20261202000000_signal_evaluation.sql in SQLite's types: the summary
-- columns of a training run, the next-bar return of a scored forecast, and live scores.

alter table training_runs add column ensemble_rule text;
alter table training_runs add column threshold_rule text;
alter table training_runs add column label_threshold real;
alter table training_runs add column walk_forward_accuracy real;
alter table training_runs add column walk_forward_majority_accuracy real;
alter table training_runs add column backtest_total_return real;
alter table training_runs add column backtest_sharpe real;
alter table training_runs add column probabilistic_sharpe real;
alter table training_runs add column buy_hold_total_return real;
alter table training_runs add column buy_hold_sharpe real;
alter table training_runs add column backtest_score real;
alter table training_runs add column walk_forward_score real;
alter table training_runs add column composite real;
alter table training_runs add column calibration_ece real;

alter table forecast_outcomes add column next_return real;

create table if not exists live_scores (
    job_id            text primary key,
    run_id            text not null,
    symbol            text not null,
    timeframe         text not null,
    artifact_version  text,
    evaluated         integer not null,
    live_accuracy     real not null,
    majority_accuracy real not null,
    live_score        real,
    backtest_score    real,
    composite         real,
    composite_drift   integer,
    live_sharpe       real,
    live_total_return real,
    buy_hold_total_return real,
    scores            text not null,
    backtest          text,
    evaluated_at      text not null
);

create index if not exists live_scores_pair on live_scores (symbol, timeframe, evaluated_at desc);
