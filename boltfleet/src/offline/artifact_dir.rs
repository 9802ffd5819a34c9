//! An artifact on the local disk: a folder with `manifest.json` and `model.bin`, the same
//! two objects an artifact is in object storage.

use std::path::Path;

use anyhow::Context;
use ml_core::model::artifact::ArtifactBytes;

pub(super) const MANIFEST_FILE: &str = "manifest.json";
pub(super) const PAYLOAD_FILE: &str = "model.bin";

pub(super) fn write(dir: &Path, bytes: &ArtifactBytes) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, content) in [(MANIFEST_FILE, &bytes.manifest), (PAYLOAD_FILE, &bytes.payload)] {
        let path = dir.join(name);
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub(super) fn read(dir: &Path) -> anyhow::Result<ArtifactBytes> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    Ok(ArtifactBytes { manifest: read(MANIFEST_FILE)?, payload: read(PAYLOAD_FILE)? })
}
