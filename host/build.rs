//! Builds the flows in `flows/` for `wasm32-wasip2` so that the `switchboard` binary carries the
//! built-in ones (DESIGN §5) and the tests find the test-only ones. A nested cargo with its own
//! target directory avoids the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Flows compiled into the binary, by crate name (`flow-<name>`).
const BUILTIN: &[&str] = &[
    "ivr",
    "hunt",
    "voicemail",
    "conference",
    "schedule",
    "employee",
    "icm",
    "secretary",
];
/// Flows built only for the tests (their `.wasm` paths are exported to the test crates).
const TEST_ONLY: &[&str] = &["misbehave"];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    // The migrations are embedded by `sqlx::migrate!`, which does not notice new files itself.
    println!("cargo:rerun-if-changed={}", manifest_dir.join("migrations").display());
    for watched in ["flows", "guest-sdk", "wit", ".cargo/config.toml", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // Outside OUT_DIR so that incremental builds of the flows survive `cargo clean -p switchboard`.
    let target_dir = std::env::var_os("SWITCHBOARD_FLOWS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_target_dir(&out_dir).join("flows"));

    // The flows build with the repository's pinned toolchain (rust-toolchain.toml), whichever
    // toolchain runs the outer build (e.g. `cargo +nightly fuzz`): so `cargo` from PATH (the
    // rustup proxy, when there is one) and none of the outer toolchain's overrides.
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&root)
        .args(["build", "--profile", "flow", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for name in BUILTIN.iter().chain(TEST_ONLY) {
        cmd.args(["-p", &format!("flow-{name}")]);
    }
    // The outer build's flags and toolchain are for the host, not for wasm.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "CARGO",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| fail(&format!("cannot run cargo: {e}")));
    if !status.success() {
        fail(
            "building the built-in flows failed (errors above). When the wasm32-wasip2 target is missing: \
             the repository's rust-toolchain.toml asks rustup for it; otherwise run \
             `rustup target add wasm32-wasip2` or install the target for your toolchain.",
        );
    }

    let wasm_dir = target_dir.join(TARGET).join("flow");
    let mut builtins =
        String::from("/// Built-in flows: (name, component bytes).\npub const BUILTIN_FLOWS: &[(&str, &[u8])] = &[\n");
    for name in BUILTIN {
        let wasm = wasm_path(&wasm_dir, name);
        builtins.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            wasm.display().to_string()
        ));
    }
    builtins.push_str("];\n");
    std::fs::write(out_dir.join("builtin_flows.rs"), builtins).unwrap();
    for name in TEST_ONLY {
        let var = format!("SWITCHBOARD_TEST_FLOW_{}", name.to_uppercase());
        println!("cargo:rustc-env={var}={}", wasm_path(&wasm_dir, name).display());
    }
}

fn wasm_path(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("flow_{name}.wasm"));
    if !path.exists() {
        fail(&format!("expected {} after building the flows", path.display()));
    }
    path
}

/// `<target>/<profile>/build/switchboard-<hash>/out` → `<target>`.
fn workspace_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("target"))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
