//! `worker`: see the crate docs in `lib.rs`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Outside the runtime `worker::run` makes: dropped last, it sends the last spans.
    let telemetry = fleet::telemetry::init(fleet::telemetry::DEFAULT_FILTER, "worker");
    let code = match worker::run(worker::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "worker failed");
            std::process::ExitCode::FAILURE
        }
    };
    drop(telemetry);
    code
}
