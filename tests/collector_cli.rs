//! `collector migrate` against the real Postgres: the schema is applied, re-applying changes
//! nothing, and row-level security keeps readers from writing.

use tests::{ScratchDatabase, command, psql, query, run};

#[test]
fn migrate_applies_the_schema_idempotently_with_row_level_security() {
    let database = ScratchDatabase::create("migrate");
    // Missing, as on a new server: the README's `collector migrate` creates it first.
    query("postgres", &format!("drop database {}", database.name));
    for _ in 0..2 {
        let output = run(command("collector", &["migrate"]).env("DATABASE_URL", database.url()));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(!String::from_utf8_lossy(&output.stderr).contains("postgres://"), "the URL is never logged");
    }
    let tables = psql(
        &database.name,
        "select string_agg(tablename, ',' order by tablename) from pg_tables \
         where schemaname = 'public' and rowsecurity",
    );
    assert_eq!(
        String::from_utf8_lossy(&tables.stdout).trim(),
        "drift_alerts,forecast_outcomes,live_scores,ml_forecasts,ohlc_bars,pair_latest,pings,symbols,training_runs"
    );

    let as_reader =
        psql(&database.name, "set role authenticated; insert into symbols (ticker) values ('AAPL')");
    assert!(!as_reader.status.success(), "authenticated may not write");
    let as_writer =
        psql(&database.name, "set role service_role; insert into symbols (ticker) values ('AAPL')");
    assert!(as_writer.status.success(), "{}", String::from_utf8_lossy(&as_writer.stderr));
    let read = psql(&database.name, "set role authenticated; select ticker from symbols");
    assert_eq!(String::from_utf8_lossy(&read.stdout).lines().last(), Some("AAPL"));
    // The overview's table is kept by a trigger, which runs with the writer's rights.
    let run = psql(
        &database.name,
        "set role service_role; insert into training_runs (job_id, run_id, symbol, timeframe, status, finished_at) \
         values ('job', gen_random_uuid(), 'AAPL', 'd1', 'failed', now())",
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let pair =
        psql(&database.name, "set role authenticated; select symbol || ' ' || timeframe from pair_latest");
    assert_eq!(String::from_utf8_lossy(&pair.stdout).lines().last(), Some("AAPL d1"));
    let bad_ticker = psql(&database.name, "insert into symbols (ticker) values ('a''; drop')");
    assert!(!bad_ticker.status.success(), "the table refuses what Symbol refuses");
}

#[test]
fn a_missing_database_url_is_named_and_nothing_starts() {
    let output = run(command("collector", &["migrate"]).env_remove("DATABASE_URL"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--database-url <DATABASE_URL>"));

    let output =
        run(command("collector", &["migrate"]).env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("cannot connect to the database named by DATABASE_URL")
    );
}
