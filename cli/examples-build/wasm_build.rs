//! Builds a workspace of guest crates for wasm32-wasip2 (release) with a nested
//! cargo and writes the path of each component as a Rust constant. Shared by two
//! build scripts: `revenant-examples` (this crate: `examples/`) and
//! `revenant-guests` (`tests/guests/programs/`, which includes this file by
//! `#[path]`). Both build into `examples/target`, so the bindgen macros and the
//! WASI bindings they share are compiled once.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// `(constant name, component name, cdylib file stem)` of one guest.
pub type Guest = (&'static str, &'static str, &'static str);

/// The repository root, `levels` directories above this package's manifest.
pub fn repository_root(levels: usize) -> PathBuf {
    let mut root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    for _ in 0..levels {
        root = root
            .parent()
            .expect("the package sits below the repository root")
            .to_path_buf();
    }
    root
}

/// The target directory every guest workspace builds into.
pub fn target_dir(root: &Path) -> PathBuf {
    root.join("examples").join("target")
}

/// Builds `workspace` (when its sources changed) and returns the `pub const` line of
/// each guest's path, checking that every component is there.
pub fn build_and_list(root: &Path, workspace: &Path, guests: &[Guest]) -> String {
    let target_dir = target_dir(root);
    rerun_if_changed(root, workspace);
    build(workspace, &target_dir);

    let release = target_dir.join(TARGET).join("release");
    let mut out = String::new();
    for (constant, component, stem) in guests {
        let path = release.join(format!("{stem}.wasm"));
        if !path.is_file() {
            panic!(
                "the guest build succeeded but {} is missing; is `{component}` a member of {} with crate-type cdylib?",
                path.display(),
                workspace.join("Cargo.toml").display()
            );
        }
        let path = path.to_str().expect("the repository path is UTF-8");
        writeln!(
            out,
            "/// Path of the `{component}` component (`{stem}.wasm`)."
        )
        .unwrap();
        writeln!(out, "pub const {constant}: &str = {path:?};").unwrap();
    }
    out
}

/// Writes `$OUT_DIR/<file>`.
pub fn write_out(file: &str, contents: &str) {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out_dir.join(file), contents)
        .unwrap_or_else(|e| panic!("write $OUT_DIR/{file}: {e}"));
}

/// Runs `cargo build --release --target wasm32-wasip2` on the `workspace`,
/// isolated from what the outer build puts in the environment.
fn build(workspace: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .current_dir(workspace);
    // Flags, wrappers and profile/build settings meant for the host build would
    // break (or silently change) the wasm build; the jobserver (CARGO_MAKEFLAGS)
    // and registry/network settings are kept.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let drop = matches!(
            key,
            "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "CARGO_ENCODED_RUSTFLAGS"
                | "CARGO_ENCODED_RUSTDOCFLAGS"
                | "CARGO_BUILD_TARGET"
                | "CARGO_BUILD_TARGET_DIR"
                | "CARGO_TARGET_DIR"
                | "CARGO_BUILD_RUSTFLAGS"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_LLVM_COV"
                | "LLVM_PROFILE_FILE"
                | "OUT_DIR"
                | "TARGET"
                | "HOST"
                | "PROFILE"
                | "OPT_LEVEL"
                | "DEBUG"
                | "NUM_JOBS"
                | "RUSTC_LINKER"
        ) || [
            "CARGO_PROFILE_",
            "CARGO_CFG_",
            "CARGO_FEATURE_",
            "CARGO_PKG_",
            "CARGO_LLVM_COV_",
            "DEP_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix));
        if drop {
            cmd.env_remove(key);
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir);
    let output = cmd.output().unwrap_or_else(|e| {
        panic!(
            "could not run cargo to build the guests in {}: {e}",
            workspace.display()
        )
    });
    if !output.status.success() {
        panic!(
            "building the guest components failed ({status}):\n{stderr}\n\
             hint: the guests need the wasm32-wasip2 Rust target; `scripts/bootstrap` installs it \
             (or run `rustup target add wasm32-wasip2`). To reproduce: \
             cd {workspace} && cargo build --release --target wasm32-wasip2",
            status = output.status,
            stderr = String::from_utf8_lossy(&output.stderr),
            workspace = workspace.display(),
        );
    }
}

/// Everything the guests are built from: each guest crate (recursively, which
/// also notices new files), the workspace manifest and lock file, the
/// `revenant:api` WIT and the SDK. Never a `target` directory, which builds write.
fn rerun_if_changed(root: &Path, workspace: &Path) {
    let mut watched = vec![
        workspace.join("Cargo.toml"),
        workspace.join("Cargo.lock"),
        root.join("wit"),
        root.join("sdk/rust/src"),
        root.join("sdk/rust/Cargo.toml"),
    ];
    let entries = fs::read_dir(workspace)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", workspace.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            watched.push(path);
        }
    }
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
