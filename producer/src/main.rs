//! `producer`: see the crate docs in `lib.rs`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = producer::Cli::parse();
    shared::telemetry::init(cli.default_log_filter());
    match producer::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "producer failed");
            std::process::ExitCode::FAILURE
        }
    }
}
