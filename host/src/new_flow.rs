//! `switchboard flow new NAME`: a flow crate of one's own, made from `flows/template` (which the
//! workspace builds and tests, so what this writes is known to work).

use std::path::{Path, PathBuf};

use anyhow::Context;

const LIB: &str = include_str!("../../flows/template/src/lib.rs");
const SCHEMA: &str = include_str!("../../flows/template/settings.schema.json");
/// The SDK of the source tree this binary was built from.
const SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk");

/// Writes the crate `name` into `parent/name`; returns its directory.
pub fn create(name: &str, parent: &Path) -> anyhow::Result<PathBuf> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    anyhow::ensure!(
        valid,
        "{name:?}: a crate name is lower-case letters, digits, '-' and '_', starting with a letter"
    );
    let sdk = std::fs::canonicalize(SDK).with_context(|| {
        format!("the SDK is not at {SDK} (the source tree this switchboard was built from has moved)")
    })?;
    let dir = parent.join(name);
    anyhow::ensure!(!dir.exists(), "{} exists already", dir.display());
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join(".cargo"))?;
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
switchboard-sdk = {{ path = {sdk:?} }}
serde = {{ version = "1", features = ["derive"] }}

# Small components; a panic becomes a trap (the exchange still takes care of the caller).
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A crate of its own, even when made inside another workspace.
[workspace]
"#,
        sdk = sdk.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    // As for the built-in flows: a 64 KiB stack keeps each call's memory small.
    std::fs::write(
        dir.join(".cargo/config.toml"),
        "[target.wasm32-wasip2]\nrustflags = [\"-C\", \"link-arg=-zstack-size=65536\"]\n",
    )?;
    std::fs::write(dir.join("src/lib.rs"), LIB)?;
    std::fs::write(dir.join("settings.schema.json"), SCHEMA)?;
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    Ok(dir)
}
