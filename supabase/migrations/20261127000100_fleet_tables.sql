-- boltfleet's tables: bars in, training runs and forecasts out.
-- Only the collector (service_role) writes; signed-in users (authenticated) read.

create table if not exists symbols (
    ticker     text primary key
               check (ticker ~ '^[A-Z0-9^][A-Z0-9.^=/-]{0,19}$'),
    created_at timestamptz not null default now()
);

create table if not exists ohlc_bars (
    symbol    text not null references symbols (ticker),
    timeframe text not null check (timeframe in ('m1', 'm5', 'm15', 'm30', 'h1', 'h4', 'd1', 'w1')),
    ts        timestamptz not null,
    open      double precision not null check (open > 0),
    high      double precision not null check (high > 0),
    low       double precision not null check (low > 0),
    close     double precision not null check (close > 0),
    volume    double precision not null check (volume >= 0),
    source    text not null,
    primary key (symbol, timeframe, ts)
);

create table if not exists training_runs (
    -- The job's id: a result delivered twice is one row.
    job_id             text primary key,
    run_id             uuid not null,
    symbol             text not null references symbols (ticker),
    timeframe          text not null,
    status             text not null check (status in ('succeeded', 'failed', 'up_to_date')),
    error              text,
    artifact_uri       text,
    artifact_version   text,
    data_sha256        text,
    config_sha256      text,
    bars               integer,
    train_rows         integer,
    purged_rows        integer,
    validation_rows    integer,
    rf_accuracy        double precision,
    gb_accuracy        double precision,
    ensemble_accuracy  double precision,
    ensemble_accuracy_low  double precision,
    ensemble_accuracy_high double precision,
    ensemble_log_loss  double precision,
    ensemble_brier     double precision,
    majority_accuracy  double precision,
    persistence_accuracy double precision,
    beats_baselines    boolean,
    rf_weight          double precision,
    gb_weight          double precision,
    -- The whole evaluation, as in the artifact's manifest.
    evaluation         jsonb,
    started_at         timestamptz,
    finished_at        timestamptz not null,
    worker_id          text
);

create index if not exists training_runs_pair_latest on training_runs (symbol, timeframe, finished_at desc);
create index if not exists training_runs_run on training_runs (run_id);

create table if not exists ml_forecasts (
    job_id              text primary key,
    run_id              uuid not null,
    symbol              text not null references symbols (ticker),
    timeframe           text not null,
    horizon             integer,
    direction           text check (direction in ('BULLISH', 'NEUTRAL', 'BEARISH')),
    confidence          double precision check (confidence between 0 and 1),
    prob_bearish        double precision,
    prob_neutral        double precision,
    prob_bullish        double precision,
    artifact_version    text,
    bar_ts              timestamptz,
    generated_at        timestamptz not null,
    -- False when no usable trained model existed (none, or expired): the row says so.
    is_trained_ensemble boolean not null,
    error               text,
    worker_id           text
);

create index if not exists ml_forecasts_pair_latest on ml_forecasts (symbol, timeframe, bar_ts desc);
create index if not exists ml_forecasts_run on ml_forecasts (run_id);

alter table symbols enable row level security;
alter table ohlc_bars enable row level security;
alter table training_runs enable row level security;
alter table ml_forecasts enable row level security;

do $$
declare
    name text;
begin
    foreach name in array array['symbols', 'ohlc_bars', 'training_runs', 'ml_forecasts'] loop
        execute format('drop policy if exists %I on %I', name || '_service_role_all', name);
        execute format(
            'create policy %I on %I for all to service_role using (true) with check (true)',
            name || '_service_role_all', name);
        execute format('drop policy if exists %I on %I', name || '_authenticated_read', name);
        execute format('create policy %I on %I for select to authenticated using (true)',
            name || '_authenticated_read', name);
        execute format('grant select, insert, update, delete on %I to service_role', name);
        execute format('grant select on %I to authenticated', name);
    end loop;
end
$$;
