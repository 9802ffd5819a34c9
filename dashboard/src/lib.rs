//! The validation dashboard: the results database as server-rendered pages, each also JSON
//! under `/api/` from the same structs. It only reads (through `fleet::database`): give it
//! credentials that can only `SELECT`.
//!
//! `main.rs` only parses the command line and calls [`serve`].

mod pages;
mod pair;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use clap::{Args, Parser};
use fleet::config::DatabaseArgs;
use fleet::database::Database;
use fleet::ops::{Ops, OpsArgs};
use prometheus_client::registry::Registry;

/// boltfleet dashboard: the fleet's results in a browser.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(flatten)]
    pub args: DashboardArgs,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Where the pages are served. Loopback by default: expose it on purpose.
    #[arg(long, env = "DASHBOARD_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub ops: OpsArgs,
}

/// Serves the dashboard until `shutdown` resolves.
pub async fn serve(
    args: DashboardArgs,
    shutdown: impl Future<Output = std::io::Result<()>> + Send + 'static,
) -> anyhow::Result<()> {
    let ops = Ops::serve(Registry::default(), &args.ops).await?;
    // A database that is down now may come back: the pages say so meanwhile.
    let database = Database::connect_lazy(&args.database).await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on DASHBOARD_ADDR {}", args.addr))?;
    tracing::info!(addr = %listener.local_addr()?, "dashboard listening");
    ops.set_ready(true);
    axum::serve(listener, router(database))
        .with_graceful_shutdown(async {
            if let Err(error) = shutdown.await {
                tracing::error!(error = %error, "cannot listen for signals; stopping");
            }
        })
        .await?;
    tracing::info!("dashboard stopped");
    Ok(())
}

/// Every page and API route, over one database.
pub fn router(database: Database) -> Router {
    let state = Arc::new(database);
    Router::new()
        .route("/", get(pages::overview))
        .route("/api/overview", get(pages::overview_json))
        .route("/symbol/{symbol}", get(pages::symbol))
        .route("/api/symbol/{symbol}", get(pages::symbol_json))
        .route("/pair/{symbol}/{timeframe}", get(pair::pair))
        .route("/api/pair/{symbol}/{timeframe}", get(pair::pair_json))
        .route("/runs", get(pages::runs))
        .route("/run/{run_id}", get(pages::run))
        .route("/api/run/{run_id}", get(pages::run_json))
        .route("/api/runs", get(pages::runs_json))
        .route("/assets/style.css", get(pages::style))
        .with_state(state)
}
