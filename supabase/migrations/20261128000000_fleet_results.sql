-- What the fleet's collector records besides the first schema: whether a model became the
-- pair's latest, the snapshot it trained on, and pings (no-op jobs that measure the fleet).

alter table training_runs add column if not exists promoted boolean;
alter table training_runs add column if not exists snapshot_key text;

-- The producer's "is this pair up to date?" question: a succeeded run on the same data and
-- training configuration.
create index if not exists training_runs_idempotency
    on training_runs (symbol, timeframe, data_sha256, config_sha256)
    where status = 'succeeded';

create table if not exists pings (
    job_id      uuid primary key,
    run_id      uuid not null,
    worker_id   text,
    finished_at timestamptz not null
);

create index if not exists pings_run on pings (run_id);

alter table pings enable row level security;
drop policy if exists pings_service_role_all on pings;
create policy pings_service_role_all on pings for all to service_role using (true) with check (true);
drop policy if exists pings_authenticated_read on pings;
create policy pings_authenticated_read on pings for select to authenticated using (true);
grant select, insert, update, delete on pings to service_role;
grant select on pings to authenticated;
