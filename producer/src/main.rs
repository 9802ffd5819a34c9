//! `producer`: see the crate docs in `lib.rs`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = producer::Cli::parse();
    // Outside the runtime: dropped last, it sends the last spans (its HTTP client blocks).
    let telemetry = fleet::telemetry::init(cli.default_log_filter(), "producer");
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(producer::run(cli)));
    let code = match outcome {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "producer failed");
            std::process::ExitCode::FAILURE
        }
    };
    drop(telemetry);
    code
}
