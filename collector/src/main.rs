//! `collector`: see the crate docs in `lib.rs`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::telemetry::init(shared::telemetry::DEFAULT_FILTER);
    match collector::run(collector::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "collector failed");
            std::process::ExitCode::FAILURE
        }
    }
}
