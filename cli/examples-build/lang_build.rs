//! Builds the Python and TypeScript example guests with the pinned tools that
//! `scripts/bootstrap` installs into `.tools/` (componentize-py from PyPI;
//! esbuild + componentize-js from npm, driven by `sdk/ts/build.mjs`), and writes
//! the path of each component as a Rust constant.
//!
//! A build takes seconds and its output is 12–18 MB, so each component is cached
//! by the hash of everything it is built from (its sources and WIT, the SDK,
//! `revenant:api`, the WASI WIT, the pinned tool versions) under
//! `examples/target/guest-langs/<component>-<hash>.wasm`: a test run builds each
//! once, and a rebuild of the Rust crates never rebuilds them. The guests build
//! in parallel. A guest's WIT directory is assembled next to it: the example's
//! own `wit/` (with its `deps/`, e.g. a typed RPC client) plus `revenant:api`
//! (`wit/revenant-api.wit`) and WASI 0.2.12 (`sdk/wasi/`) as dependencies.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py version scripts/bootstrap pins (part of the cache key).
const COMPONENTIZE_PY: &str = "componentize-py 0.25.1";

/// The language of a guest and how it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// `componentize-py componentize <entry>` with the app's folder and `sdk/python` on the path.
    Python,
    /// `node sdk/ts/build.mjs --entry <entry>` (esbuild, then componentize-js).
    Ts,
}

/// One guest: `(constant, component name, language, folder under the repo, world, entry)`.
/// The entry is the Python module name, or the TypeScript file.
pub type LangGuest = (
    &'static str,
    &'static str,
    Lang,
    &'static str,
    &'static str,
    &'static str,
);

/// Builds every guest that is not cached yet (in parallel) and returns the `pub const` lines.
pub fn build_and_list(root: &Path, guests: &[LangGuest]) -> String {
    for dir in [
        "wit/revenant-api.wit",
        "sdk/wasi",
        "sdk/python",
        "sdk/ts/src",
        "sdk/ts/build.mjs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("scripts/guest-tools/package-lock.json").display()
    );
    let cache = root.join("examples/target/guest-langs");
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("create {}: {e}", cache.display()));
    let paths: Vec<PathBuf> = std::thread::scope(|s| {
        let builds: Vec<_> = guests
            .iter()
            .map(|g| {
                println!("cargo:rerun-if-changed={}", root.join(g.3).display());
                let cache = &cache;
                s.spawn(move || build_cached(root, cache, g))
            })
            .collect();
        builds
            .into_iter()
            .map(|b| b.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = String::new();
    for ((constant, component, lang, dir, _, _), path) in guests.iter().zip(paths) {
        let path = path.to_str().expect("the repository path is UTF-8");
        writeln!(
            out,
            "/// Path of the `{component}` component ({lang:?}, `{dir}`)."
        )
        .unwrap();
        writeln!(out, "pub const {constant}: &str = {path:?};").unwrap();
    }
    out
}

/// The cached component of `guest`, built first when its inputs changed.
fn build_cached(root: &Path, cache: &Path, guest: &LangGuest) -> PathBuf {
    let (_, component, lang, dir, world, entry) = *guest;
    let mut inputs = vec![
        root.join(dir),
        root.join("wit/revenant-api.wit"),
        root.join("sdk/wasi"),
    ];
    match lang {
        Lang::Python => inputs.push(root.join("sdk/python")),
        Lang::Ts => {
            inputs.push(root.join("sdk/ts/src"));
            inputs.push(root.join("sdk/ts/build.mjs"));
            inputs.push(root.join("scripts/guest-tools/package-lock.json"));
        }
    }
    let mut h = DefaultHasher::new();
    (COMPONENTIZE_PY, lang, world, entry).hash(&mut h);
    for input in &inputs {
        hash_tree(root, input, &mut h);
    }
    let out = cache.join(format!("{component}-{:016x}.wasm", h.finish()));
    if out.is_file() {
        return out;
    }
    let wit = out.with_extension("wit");
    assemble_wit(root, &root.join(dir).join("wit"), &wit);
    let tmp = out.with_extension("wasm.tmp");
    let mut cmd = match lang {
        Lang::Python => {
            let tool = root.join(".tools/componentize-py/bin/componentize-py");
            require(&tool, COMPONENTIZE_PY);
            let mut cmd = Command::new(tool);
            cmd.arg("-q")
                .arg("-d")
                .arg(&wit)
                .arg("-w")
                .arg(world)
                .arg("componentize")
                .arg(entry)
                .arg("-p")
                .arg(root.join(dir))
                .arg("-p")
                .arg(root.join("sdk/python"))
                .arg("-o")
                .arg(&tmp);
            // A virtualenv of the outer shell would add its site-packages to the guest.
            cmd.env_remove("VIRTUAL_ENV");
            cmd
        }
        Lang::Ts => {
            require(
                &root.join(".tools/node/node_modules/@bytecodealliance/componentize-js"),
                "@bytecodealliance/componentize-js",
            );
            // The bootstrap's Node.js (from PyPI) when the machine has none of its own.
            let local = root.join(".tools/bin/node");
            let mut cmd = Command::new(if local.exists() { local } else { "node".into() });
            cmd.arg(root.join("sdk/ts/build.mjs"))
                .arg("--wit")
                .arg(&wit)
                .arg("--world")
                .arg(world)
                .arg("--entry")
                .arg(root.join(dir).join(entry))
                .arg("--out")
                .arg(&tmp);
            cmd
        }
    };
    let output = cmd
        .current_dir(root.join(dir))
        .output()
        .unwrap_or_else(|e| {
            panic!("could not run the {lang:?} build of {component}: {e}; run scripts/bootstrap")
        });
    if !output.status.success() {
        panic!(
            "building the {lang:?} guest {component} ({dir}) failed ({}):\n{}{}\nto reproduce: {cmd:?}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
    fs::rename(&tmp, &out).unwrap_or_else(|e| panic!("rename {}: {e}", tmp.display()));
    let _ = fs::remove_dir_all(&wit);
    // Earlier builds of this guest are never used again.
    for entry in fs::read_dir(cache).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = name
            .strip_prefix(component)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|hash| {
                hash.len() == "0123456789abcdef.wasm".len() && hash.ends_with(".wasm")
            });
        if stale && path != out {
            let _ = fs::remove_file(path);
        }
    }
    out
}

fn require(path: &Path, what: &str) {
    if !path.exists() {
        panic!(
            "{what} is not installed ({} is missing); run scripts/bootstrap, which installs the \
             pinned guest tools into .tools/",
            path.display()
        );
    }
}

/// Hashes the relative path and contents of every file under `path` (sorted; no caches).
fn hash_tree(root: &Path, path: &Path, h: &mut DefaultHasher) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n != "__pycache__" && n != "node_modules")
            })
            .collect();
        entries.sort();
        for e in entries {
            hash_tree(root, &e, h);
        }
    } else if let Ok(bytes) = fs::read(path) {
        path.strip_prefix(root).unwrap_or(path).hash(h);
        bytes.hash(h);
    }
}

/// `dest/` = the guest's `wit/` (its `deps/` too) + `deps/revenant-api/` + `deps/<wasi pkg>/`.
fn assemble_wit(root: &Path, own: &Path, dest: &Path) {
    let _ = fs::remove_dir_all(dest);
    copy_tree(own, dest);
    let api = dest.join("deps/revenant-api");
    fs::create_dir_all(&api).unwrap_or_else(|e| panic!("create {}: {e}", api.display()));
    copy(
        &root.join("wit/revenant-api.wit"),
        &api.join("revenant-api.wit"),
    );
    let wasi = root.join("sdk/wasi");
    for entry in fs::read_dir(&wasi).unwrap_or_else(|e| panic!("read {}: {e}", wasi.display())) {
        let path = entry.expect("dir entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let pkg = dest.join("deps").join(stem);
        fs::create_dir_all(&pkg).unwrap_or_else(|e| panic!("create {}: {e}", pkg.display()));
        copy(&path, &pkg.join(path.file_name().expect("file name")));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let path = entry.expect("dir entry").path();
        let target = to.join(path.file_name().expect("file name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            copy(&path, &target);
        }
    }
}

fn copy(from: &Path, to: &Path) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}
