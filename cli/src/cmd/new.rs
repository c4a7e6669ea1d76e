//! `revenant new <rust|python|ts> <name>`: scaffolds a component project — a
//! counter with the language's SDK, its WIT world (with `revenant:api` and WASI
//! as dependencies where the language's tools read them) and a `revenant.yaml`
//! that `revenant deploy` builds and uploads. The files are a pure function of
//! (language, name, repository root) ([`files`]); `run` only writes them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use revenant_types::ComponentName;

use super::manifest::Lang;

#[derive(clap::Args)]
pub struct NewArgs {
    /// The guest language.
    pub lang: Lang,
    /// The component's name (`[A-Za-z0-9_-]`, also the folder created).
    pub name: String,
    /// Where to create the folder.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// The repository this binary was built from: its SDKs, WIT and `.tools/` (override
/// with `REVENANT_HOME`).
pub fn home() -> PathBuf {
    std::env::var_os("REVENANT_HOME").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        PathBuf::from,
    )
}

const API_WIT: &str = include_str!("../../../wit/revenant-api.wit");
const WASI: &[(&str, &str)] = &[
    ("cli", include_str!("../../../sdk/wasi/cli.wit")),
    ("clocks", include_str!("../../../sdk/wasi/clocks.wit")),
    (
        "filesystem",
        include_str!("../../../sdk/wasi/filesystem.wit"),
    ),
    ("http", include_str!("../../../sdk/wasi/http.wit")),
    ("io", include_str!("../../../sdk/wasi/io.wit")),
    ("random", include_str!("../../../sdk/wasi/random.wit")),
    ("sockets", include_str!("../../../sdk/wasi/sockets.wit")),
];

/// `(path relative to the project folder, contents)` of a new project.
pub fn files(lang: Lang, name: &str, home: &Path) -> Vec<(String, String)> {
    let world = format!(
        "package example:{name};\n\n/// A durable counter (scaffolded by `revenant new`).\ninterface api {{\n    \
         /// Adds `value` and returns the new total.\n    add: func(value: u64) -> u64;\n    \
         /// The current total.\n    get: func() -> u64;\n}}\n\nworld {name} {{\n{imports}    export api;\n}}\n",
        imports = if lang == Lang::Rust {
            ""
        } else {
            "    include revenant:api/guest@0.2.0;\n    import wasi:clocks/monotonic-clock@0.2.12;\n"
        }
    );
    let sdk = home.join("sdk");
    let sdk = sdk.display();
    let mut out = vec![(format!("wit/{name}.wit"), world)];
    let (build, wasm) = match lang {
        Lang::Rust => {
            let krate = name.replace('-', "_");
            out.push((
                "Cargo.toml".into(),
                format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
                     [dependencies]\nwit-bindgen = \"0.63\"\nrevenant-sdk = {{ path = \"{sdk}/rust\" }}\n\n\
                     # Its own workspace, wherever it is created.\n[workspace]\n\n[profile.release]\nopt-level = \"s\"\n"
                ),
            ));
            out.push((
                "src/lib.rs".into(),
                format!(
                    "//! `{name}`: a durable counter. `revenant deploy` builds and uploads it.\n\n\
                     use std::sync::atomic::{{AtomicU64, Ordering}};\n\n\
                     wit_bindgen::generate!({{ path: \"wit\", world: \"{name}\" }});\n\n\
                     use exports::example::{krate}::api::Guest;\n\n\
                     static TOTAL: AtomicU64 = AtomicU64::new(0);\n\nstruct Component;\n\n\
                     impl Guest for Component {{\n    fn add(value: u64) -> u64 {{\n        \
                     let total = TOTAL.load(Ordering::Relaxed).wrapping_add(value);\n        \
                     TOTAL.store(total, Ordering::Relaxed);\n        total\n    }}\n\n    \
                     fn get() -> u64 {{\n        TOTAL.load(Ordering::Relaxed)\n    }}\n}}\n\n\
                     // The SDK (durable sleep, promises, RPC): revenant_sdk::sleep, Promise, rpc::call …\n\
                     export!(Component);\n"
                ),
            ));
            (
                "cargo build --release --target wasm32-wasip2".to_owned(),
                format!("target/wasm32-wasip2/release/{krate}.wasm"),
            )
        }
        Lang::Python => {
            out.push((
                "app.py".into(),
                "\"\"\"A durable counter: module globals are the worker's state.\"\"\"\n\n\
                 from wit_world import exports\n\nimport revenant  # durable sleep, promises, RPC: see sdk/python/README.md\n\n\
                 total = 0\n\n\nclass Api(exports.Api):\n    def add(self, value: int) -> int:\n        \
                 global total\n        total = (total + value) % (1 << 64)\n        return total\n\n    \
                 def get(self) -> int:\n        return total\n"
                    .into(),
            ));
            (
                format!(
                    "componentize-py -d wit -w {name} componentize app -p . -p \"$REVENANT_SDK/python\" -o {name}.wasm"
                ),
                format!("{name}.wasm"),
            )
        }
        Lang::Ts => {
            out.push((
                format!("{name}.ts"),
                "// A durable counter: module variables are the worker's state.\n\
                 // The SDK (durable sleep, promises, RPC): import { sleep, DurablePromise, call } from \"revenant\";\n\n\
                 const MASK = (1n << 64n) - 1n;\nlet total = 0n;\n\nexport const api = {\n  \
                 add(value: bigint): bigint {\n    total = (total + value) & MASK;\n    return total;\n  },\n  \
                 get(): bigint {\n    return total;\n  },\n};\n"
                    .into(),
            ));
            (
                format!(
                    "node \"$REVENANT_SDK/ts/build.mjs\" --wit wit --world {name} --entry {name}.ts --out {name}.wasm"
                ),
                format!("{name}.wasm"),
            )
        }
    };
    if lang != Lang::Rust {
        out.push((
            "wit/deps/revenant-api/revenant-api.wit".into(),
            API_WIT.into(),
        ));
        for (pkg, text) in WASI {
            out.push((format!("wit/deps/{pkg}/{pkg}.wit"), (*text).into()));
        }
    }
    let lang_name = match lang {
        Lang::Rust => "rust",
        Lang::Python => "python",
        Lang::Ts => "ts",
    };
    out.push((
        super::manifest::FILE.into(),
        format!(
            "# Built and uploaded by `revenant deploy` (run in this folder).\n\
             components:\n  {name}:\n    lang: {lang_name}\n    build: {build}\n    wasm: {wasm}\n\
             # routes:     # HTTP routes to workers (the router's format)\n\
             #   - {{ method: POST, path: \"/{name}/{{id}}/add\", component: {name}, worker: \"{{id}}\", function: add, args: {{ value: \"{{body.value}}\" }} }}\n\
             # schedules:  # invocations at a time or on a cron expression\n\
             #   - {{ worker: {name}/nightly, function: add, args: [1], cron: \"@daily\", name: nightly }}\n"
        ),
    ));
    out
}

pub fn run(args: &NewArgs) -> anyhow::Result<()> {
    ComponentName::new(&args.name)
        .with_context(|| format!("{:?} cannot name a component", args.name))?;
    let root = args.dir.join(&args.name);
    if root.exists() {
        bail!(
            "{} exists already; choose another name or --dir",
            root.display()
        );
    }
    for (path, text) in files(args.lang, &args.name, &home()) {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created {}; build and upload it with:\n  cd {} && revenant deploy",
        root.display(),
        root.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_a_world_a_manifest_and_its_source() {
        for (lang, source) in [
            (Lang::Rust, "src/lib.rs"),
            (Lang::Python, "app.py"),
            (Lang::Ts, "shop.ts"),
        ] {
            let files = files(lang, "shop", Path::new("/r"));
            let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
            assert!(
                names.contains(&"wit/shop.wit") && names.contains(&source),
                "{names:?}"
            );
            let manifest = &files.iter().find(|(p, _)| p == "revenant.yaml").unwrap().1;
            let (m, api) = super::super::manifest::parse(manifest, "shop").unwrap();
            assert_eq!(m.components["shop"].lang, lang);
            assert!(api.is_none());
        }
    }

    #[test]
    fn python_and_ts_projects_carry_the_wit_dependencies() {
        let files = files(Lang::Python, "shop", Path::new("/r"));
        assert!(
            files
                .iter()
                .any(|(p, _)| p == "wit/deps/revenant-api/revenant-api.wit")
        );
        assert!(
            files
                .iter()
                .any(|(p, t)| p == "wit/deps/http/http.wit" && t.contains("wasi:http@0.2.12"))
        );
        let rust = super::files(Lang::Rust, "shop", Path::new("/r"));
        assert!(
            rust.iter()
                .any(|(p, t)| p == "Cargo.toml" && t.contains("path = \"/r/sdk/rust\""))
        );
    }
}
