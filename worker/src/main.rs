//! `worker`: see the crate docs in `lib.rs`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    shared::telemetry::init(shared::telemetry::DEFAULT_FILTER);
    match worker::run(worker::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "worker failed");
            std::process::ExitCode::FAILURE
        }
    }
}
