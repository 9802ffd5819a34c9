//! Helpers for the cross-crate tests: where the workspace's binaries and the shared data are.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/data` beside the repository, or `BOLTFLEET_DATA` when set.
pub fn data_dir() -> PathBuf {
    std::env::var_os("BOLTFLEET_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from)
}

/// A workspace binary, built by the same `cargo test`/`nextest` run (it builds every binary of
/// the workspace before running tests), next to this test executable's `deps/` folder.
pub fn binary(name: &str) -> Command {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target profile dir");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built; run `cargo build --workspace --bins`", path.display());
    Command::new(path)
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
