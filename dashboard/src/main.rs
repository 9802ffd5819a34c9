//! `dashboard`: see the crate docs in `lib.rs`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Outside the runtime: dropped last, it sends the last spans (its HTTP client blocks).
    let telemetry = fleet::telemetry::init(fleet::telemetry::DEFAULT_FILTER, "dashboard");
    let cli = dashboard::Cli::parse();
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(dashboard::serve(cli.args, fleet::shutdown_signal())));
    let code = match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "dashboard failed");
            std::process::ExitCode::FAILURE
        }
    };
    drop(telemetry);
    code
}
