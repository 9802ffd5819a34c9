//! `producer`: see the crate docs in `lib.rs`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::telemetry::init();
    let cli = producer::Cli::parse();
    match producer::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "producer failed");
            std::process::ExitCode::FAILURE
        }
    }
}
