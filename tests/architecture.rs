//! The rules of the crate graph and of the lifecycle, read off the sources: the invariants
//! ARCHITECTURE.md names these tests for.

use std::path::{Path, PathBuf};

const ROLES: [&str; 4] = ["producer", "worker", "collector", "dashboard"];
const LIBRARIES: [&str; 6] = ["ml-core", "fleet", "producer", "worker", "collector", "dashboard"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The names a crate's manifest lists under `[dependencies]` (not dev- or build-).
fn dependencies(krate: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
        } else if in_dependencies
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once(['=', '.'])
            && !name.trim().is_empty()
        {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

#[test]
fn no_role_depends_on_another_role() {
    for role in ROLES {
        let others: Vec<String> =
            dependencies(role).into_iter().filter(|name| ROLES.contains(&name.as_str())).collect();
        assert!(others.is_empty(), "{role} depends on the roles {others:?}: only boltfleet composes them");
    }
    let binary = dependencies("boltfleet");
    for role in ROLES {
        assert!(binary.contains(&role.to_owned()), "boltfleet composes {role}: {binary:?}");
    }
}

#[test]
fn clap_and_anyhow_are_the_binarys_alone() {
    for library in LIBRARIES {
        let dependencies = dependencies(library);
        for edge_crate in ["clap", "anyhow"] {
            assert!(
                !dependencies.contains(&edge_crate.to_owned()),
                "{library} depends on {edge_crate}: libraries take plain configs and return typed errors"
            );
        }
    }
}

#[test]
fn the_roles_and_the_backends_spawn_only_through_a_shutdown() {
    // Jobs are the worker's own tracked tasks: they must outlive a pool that died
    // (`worker/src/running.rs`), and the worker waits for them.
    let allowed = [root().join("worker/src/running.rs"), root().join("fleet/src/shutdown.rs")];
    let mut offenders = Vec::new();
    for krate in
        ["producer/src", "worker/src", "collector/src", "dashboard/src", "fleet/src", "boltfleet/src"]
    {
        for path in sources(&root().join(krate)) {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("tokio::spawn(") && !allowed.contains(&path) {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(offenders.is_empty(), "tasks nobody joins: spawn them through a Shutdown: {offenders:?}");
}
