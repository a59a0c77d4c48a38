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
    "queue",
    "notify",
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

    ensure_target(&root);

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
        fail("building the built-in flows failed (errors above)");
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

/// Makes sure the pinned toolchain can build for `wasm32-wasip2`. rustup adds the targets of
/// rust-toolchain.toml only when it installs the toolchain itself; a toolchain installed before
/// (a CI image, a developer's machine) lacks it, so it is added here — or, without rustup, the
/// build stops at once saying how to get it.
fn ensure_target(root: &Path) {
    let rustup = |args: &[&str]| {
        Command::new("rustup")
            .current_dir(root)
            .args(args)
            .env_remove("RUSTUP_TOOLCHAIN")
            .output()
    };
    match rustup(&["target", "list", "--installed"]) {
        Ok(listed) if listed.status.success() => {
            if String::from_utf8_lossy(&listed.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
            {
                return;
            }
            println!("cargo:warning=added the {TARGET} target to the toolchain (rustup target add {TARGET})");
            match rustup(&["target", "add", TARGET]) {
                Ok(added) if added.status.success() => {}
                Ok(added) => fail(&format!(
                    "`rustup target add {TARGET}` failed: {}",
                    String::from_utf8_lossy(&added.stderr).trim()
                )),
                Err(e) => fail(&format!("cannot run rustup: {e}")),
            }
        }
        // No rustup: the toolchain on PATH must carry the target already.
        _ => {
            let sysroot = Command::new("rustc")
                .current_dir(root)
                .args(["--print", "sysroot"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
            let has_target = sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).is_dir());
            if !has_target {
                fail(&format!(
                    "the Rust toolchain has no {TARGET} target, which the built-in flows need. With rustup: \
                     `rustup target add {TARGET}`; otherwise install your toolchain's rust-std for {TARGET}."
                ));
            }
        }
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
