//! Builds every guest in `examples/` for wasm32-wasip2 (release) with a nested
//! cargo, and writes `$OUT_DIR/guests.rs` with the path of each component.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `(constant name, component name, cdylib file stem)` for every guest.
const GUESTS: &[(&str, &str, &str)] = &[
    ("COUNTER", "counter", "counter"),
    ("SHOPPING_CART", "shopping-cart", "shopping_cart"),
    ("USER_ACTIVITIES", "user-activities", "user_activities"),
    ("JSON_SUM", "json-sum", "json_sum"),
    ("TEST_HTTP", "test-http", "test_http"),
    ("TEST_FAULTS", "test-faults", "test_faults"),
    ("TEST_TYPES", "test-types", "test_types"),
    ("TEST_DURABILITY", "test-durability", "test_durability"),
];

/// The user-facing examples listed by `all()`.
const USER_FACING: &[&str] = &["COUNTER", "SHOPPING_CART", "USER_ACTIVITIES", "JSON_SUM"];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("tests/guests sits two levels below the repository root");
    let examples = root.join("examples");
    let target_dir = examples.join("target");

    rerun_if_changed(root, &examples);
    build(&examples, &target_dir);

    let release = target_dir.join(TARGET).join("release");
    let mut out = String::new();
    for (constant, component, stem) in GUESTS {
        let path = release.join(format!("{stem}.wasm"));
        if !path.is_file() {
            panic!(
                "the guest build succeeded but {} is missing; is `{component}` a member of examples/Cargo.toml with crate-type cdylib?",
                path.display()
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
    out.push_str("\n/// The user-facing examples as `(component name, path)`.\n");
    out.push_str("pub fn all() -> &'static [(&'static str, &'static str)] {\n    &[\n");
    for constant in USER_FACING {
        let (_, component, _) = GUESTS
            .iter()
            .find(|(c, ..)| c == constant)
            .expect("listed in GUESTS");
        writeln!(out, "        ({component:?}, {constant}),").unwrap();
    }
    out.push_str("    ]\n}\n");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out_dir.join("guests.rs"), out).expect("write $OUT_DIR/guests.rs");
}

/// Runs `cargo build --release --target wasm32-wasip2` on the examples
/// workspace, isolated from what the outer build puts in the environment.
fn build(examples: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(examples.join("Cargo.toml"))
        .current_dir(examples);
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
            examples.display()
        )
    });
    if !output.status.success() {
        panic!(
            "building the guest components failed ({status}):\n{stderr}\n\
             hint: the guests need the wasm32-wasip2 Rust target; `scripts/bootstrap` installs it \
             (or run `rustup target add wasm32-wasip2`). To reproduce: \
             cd examples && cargo build --release --target wasm32-wasip2",
            status = output.status,
            stderr = String::from_utf8_lossy(&output.stderr),
        );
    }
}

/// Everything the guests are built from: each example crate (recursively,
/// which also notices new files), the examples manifest and lock file, the
/// `revenant:api` WIT and the SDK. Never `examples/target`, which the build writes.
fn rerun_if_changed(root: &Path, examples: &Path) {
    let mut watched = vec![
        examples.join("Cargo.toml"),
        examples.join("Cargo.lock"),
        root.join("wit"),
        root.join("sdk/rust/src"),
        root.join("sdk/rust/Cargo.toml"),
    ];
    let entries = fs::read_dir(examples)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", examples.display()));
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
