-- Bars no longer reference `symbols` by a foreign key: Postgres checked every bar against
-- `symbols` one by one, which cost more than writing the bar (a 100,000-bar insert took 2.2x
-- as long with the check; docs/benchmarks.md, issue 27). `boltfleet ingest` records a bar's
-- symbol in the same transaction, before its bars, so every bar still has its symbol.
alter table ohlc_bars drop constraint if exists ohlc_bars_symbol_fkey;
