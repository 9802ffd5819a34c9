//! Helpers for the cross-crate tests: where the workspace's binaries and the shared data are.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `../shared/data` beside the repository, or `BOLTFLEET_DATA` when set.
pub fn data_dir() -> PathBuf {
    std::env::var_os("BOLTFLEET_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from)
}

/// A workspace binary, fresh: the first call per test process runs
/// `cargo build --workspace --bins` in the test's profile (a no-op when nothing changed), since
/// a test run builds test targets, not the workspace's binaries. The whole workspace, so that
/// features unify as in the test build and nothing is compiled a second time.
pub fn binary(name: &str) -> Command {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile dir");
    BUILT.get_or_init(|| {
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--workspace", "--bins", "--profile", profile])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo to build the binaries: {e}"));
        assert!(status.success(), "cargo build of the workspace's binaries failed");
    });
    Command::new(profile_dir.join(name))
}

/// A workspace binary with arguments, logging only warnings.
pub fn command(name: &str, args: &[&str]) -> Command {
    let mut command = binary(name);
    command.args(args).env("RUST_LOG", "warn");
    command
}

/// Runs a command and returns its output, with stdout and stderr in the panic message if it
/// could not start.
pub fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}
