-- Promotion is a rule (issue 5): a trained model that did not become its pair's latest says why.
alter table training_runs add column if not exists promotion_note text;

-- Drift monitoring (issue 5): forecasts carry the label rule they were made under, so that the
-- evaluation scores them with the same rule once their horizon has passed.
alter table ml_forecasts add column if not exists label_threshold double precision;

create table if not exists forecast_outcomes (
    forecast_job_id  text primary key references ml_forecasts (job_id),
    run_id           uuid not null,
    symbol           text not null,
    timeframe        text not null,
    artifact_version text,
    bar_ts           timestamptz not null,
    horizon          integer not null,
    predicted        text not null check (predicted in ('BULLISH', 'NEUTRAL', 'BEARISH')),
    realized         text not null check (realized in ('BULLISH', 'NEUTRAL', 'BEARISH')),
    correct          boolean not null,
    realized_return  double precision not null,
    realized_at      timestamptz not null,
    evaluated_at     timestamptz not null
);

-- Live accuracy per pair over a rolling window of bar time.
create index if not exists forecast_outcomes_pair on forecast_outcomes (symbol, timeframe, bar_ts desc);

create table if not exists drift_alerts (
    job_id              uuid primary key,
    run_id              uuid not null,
    symbol              text not null,
    timeframe           text not null,
    artifact_version    text,
    live_accuracy       double precision not null,
    validation_accuracy double precision not null,
    evaluated           integer not null,
    max_drop            double precision not null,
    window_start        timestamptz not null,
    retrain_job_id      uuid,
    raised_at           timestamptz not null
);

create index if not exists drift_alerts_pair on drift_alerts (symbol, timeframe, raised_at desc);

do $$
declare
    name text;
begin
    foreach name in array array['forecast_outcomes', 'drift_alerts'] loop
        execute format('alter table %I enable row level security', name);
        execute format('drop policy if exists %I on %I', name || '_service_role_all', name);
        execute format('create policy %I on %I for all to service_role using (true) with check (true)',
                       name || '_service_role_all', name);
        execute format('drop policy if exists %I on %I', name || '_authenticated_read', name);
        execute format('create policy %I on %I for select to authenticated using (true)',
                       name || '_authenticated_read', name);
        execute format('grant select, insert, update, delete on %I to service_role', name);
        execute format('grant select on %I to authenticated', name);
    end loop;
end
$$;
