-- The embedded database (issue 5): supabase/migrations' tables and columns, in SQLite's
-- types, for `producer demo` and any fleet whose DATABASE_URL is sqlite://. Times are RFC 3339
-- text in UTC ending in Z (as the results carry them), uuids hyphenated text, booleans 0/1,
-- jsonb columns JSON text. No roles or row-level security: a file has no users.

create table if not exists symbols (
    ticker     text primary key check (length(ticker) between 1 and 20 and ticker = upper(ticker)),
    created_at text not null default (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

create table if not exists ohlc_bars (
    symbol    text not null references symbols (ticker),
    timeframe text not null check (timeframe in ('m1', 'm5', 'm15', 'm30', 'h1', 'h4', 'd1', 'w1')),
    ts        text not null,
    open      real not null check (open > 0),
    high      real not null check (high > 0),
    low       real not null check (low > 0),
    close     real not null check (close > 0),
    volume    real not null check (volume >= 0),
    source    text not null,
    primary key (symbol, timeframe, ts)
);

create table if not exists training_runs (
    job_id                 text primary key,
    run_id                 text not null,
    symbol                 text not null references symbols (ticker),
    timeframe              text not null,
    status                 text not null check (status in ('succeeded', 'failed', 'up_to_date')),
    error                  text,
    artifact_uri           text,
    artifact_version       text,
    data_sha256            text,
    config_sha256          text,
    bars                   integer,
    train_rows             integer,
    purged_rows            integer,
    validation_rows        integer,
    rf_accuracy            real,
    gb_accuracy            real,
    ensemble_accuracy      real,
    ensemble_accuracy_low  real,
    ensemble_accuracy_high real,
    ensemble_log_loss      real,
    ensemble_brier         real,
    majority_accuracy      real,
    persistence_accuracy   real,
    beats_baselines        integer,
    rf_weight              real,
    gb_weight              real,
    evaluation             text,
    started_at             text,
    finished_at            text not null,
    worker_id              text,
    promoted               integer,
    snapshot_key           text,
    promotion_note         text
);

create index if not exists training_runs_pair_latest on training_runs (symbol, timeframe, finished_at desc);
create index if not exists training_runs_run on training_runs (run_id);
create index if not exists training_runs_idempotency
    on training_runs (symbol, timeframe, data_sha256, config_sha256) where status = 'succeeded';

create table if not exists ml_forecasts (
    job_id              text primary key,
    run_id              text not null,
    symbol              text not null references symbols (ticker),
    timeframe           text not null,
    horizon             integer,
    direction           text check (direction in ('BULLISH', 'NEUTRAL', 'BEARISH')),
    confidence          real check (confidence between 0 and 1),
    prob_bearish        real,
    prob_neutral        real,
    prob_bullish        real,
    artifact_version    text,
    bar_ts              text,
    generated_at        text not null,
    is_trained_ensemble integer not null,
    error               text,
    worker_id           text,
    label_threshold     real
);

create index if not exists ml_forecasts_pair_latest on ml_forecasts (symbol, timeframe, bar_ts desc);
create index if not exists ml_forecasts_run on ml_forecasts (run_id);

create table if not exists pings (
    job_id      text primary key,
    run_id      text not null,
    worker_id   text,
    finished_at text not null
);

create index if not exists pings_run on pings (run_id);

create table if not exists forecast_outcomes (
    forecast_job_id  text primary key references ml_forecasts (job_id),
    run_id           text not null,
    symbol           text not null,
    timeframe        text not null,
    artifact_version text,
    bar_ts           text not null,
    horizon          integer not null,
    predicted        text not null check (predicted in ('BULLISH', 'NEUTRAL', 'BEARISH')),
    realized         text not null check (realized in ('BULLISH', 'NEUTRAL', 'BEARISH')),
    correct          integer not null,
    realized_return  real not null,
    realized_at      text not null,
    evaluated_at     text not null
);

create index if not exists forecast_outcomes_pair on forecast_outcomes (symbol, timeframe, bar_ts desc);

create table if not exists drift_alerts (
    job_id              text primary key,
    run_id              text not null,
    symbol              text not null,
    timeframe           text not null,
    artifact_version    text,
    live_accuracy       real not null,
    validation_accuracy real not null,
    evaluated           integer not null,
    max_drop            real not null,
    window_start        text not null,
    retrain_job_id      text,
    raised_at           text not null
);

create index if not exists drift_alerts_pair on drift_alerts (symbol, timeframe, raised_at desc);
