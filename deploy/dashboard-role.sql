-- The dashboard's login role: it can only read. Supabase's `authenticated` is granted SELECT
-- (and a read policy) on every results table by supabase/migrations; this role inherits
-- that and nothing else. Idempotent; the password comes from psql's `password` variable:
--   psql "$ADMIN_DATABASE_URL" -v password="$DASHBOARD_DB_PASSWORD" -f deploy/dashboard-role.sql
select 'create role boltfleet_dashboard login inherit in role authenticated'
where not exists (select 1 from pg_roles where rolname = 'boltfleet_dashboard') \gexec
alter role boltfleet_dashboard password :'password';
