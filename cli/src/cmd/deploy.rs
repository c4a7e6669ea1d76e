//! `revenant deploy`: reads `revenant.yaml` ([`super::manifest`]), builds each
//! component with its `build` command (in the manifest's folder, with the pinned
//! guest tools of `scripts/bootstrap` on `PATH` and `$REVENANT_SDK` pointing at
//! the SDKs), uploads a new version of each whose binary changed, posts the
//! routes to a router, publishes the schedules, and prints how to invoke every
//! exported function.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use revenant_types::records::ComponentRecord;
use revenant_types::{ComponentName, WorkerId};

use super::manifest::{self, ComponentDef};
use crate::NatsArgs;

#[derive(clap::Args)]
pub struct DeployArgs {
    /// The folder holding `revenant.yaml`.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The router that serves the manifest's routes (its REST API).
    #[arg(long, env = "REVENANT_ROUTER", default_value = "http://127.0.0.1:8080")]
    pub router: String,
    /// Upload what is built already; run no build command.
    #[arg(long)]
    pub no_build: bool,
}

/// The `PATH` and variables a build command runs with: the guest tools and SDKs of
/// [`super::new::home`].
fn build_env() -> Vec<(&'static str, std::ffi::OsString)> {
    let home = super::new::home();
    let mut path = vec![
        home.join(".tools/componentize-py/bin"),
        home.join(".tools/bin"),
    ];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    vec![
        ("PATH", std::env::join_paths(path).unwrap_or_default()),
        ("REVENANT_SDK", home.join("sdk").into()),
        ("REVENANT_NODE_TOOLS", home.join(".tools/node").into()),
    ]
}

fn build(dir: &std::path::Path, name: &str, def: &ComponentDef) -> anyhow::Result<()> {
    let Some(cmd) = &def.build else { return Ok(()) };
    eprintln!("building {name}: {cmd}");
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .envs(build_env())
        .status()
        .with_context(|| format!("could not run the build of {name} (`sh -c {cmd:?}`)"))?;
    if !status.success() {
        bail!(
            "the build of {name} failed ({status}): `{cmd}` in {}; fix it, or run \
             scripts/bootstrap if a tool is missing",
            dir.display()
        );
    }
    Ok(())
}

/// `revenant invoke <component>/<worker> <function> <param>…` lines for every export.
fn invoke_hints(record: &ComponentRecord) -> Vec<String> {
    record
        .exports
        .iter()
        .map(|f| {
            let bare = f
                .name
                .rsplit_once(".{")
                .map_or(f.name.as_str(), |(_, b)| b.trim_end_matches('}'));
            let params: String = f
                .params
                .iter()
                .map(|(n, t)| format!(" <{n}: {t}>"))
                .collect();
            format!("revenant invoke {}/<worker> {bare}{params}", record.name)
        })
        .collect()
}

pub async fn run(nats_args: NatsArgs, args: DeployArgs) -> anyhow::Result<()> {
    let path = args.dir.join(manifest::FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}; create a project with `revenant new <rust|python|ts> <name>`",
            path.display()
        )
    })?;
    let folder = std::fs::canonicalize(&args.dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".to_owned());
    let (m, api) = manifest::parse(&text, &folder).map_err(anyhow::Error::msg)?;
    if !args.no_build {
        for (name, def) in &m.components {
            build(&args.dir, name, def)?;
        }
    }
    let nats = super::connect(&nats_args).await?;
    for (name, def) in &m.components {
        let wasm = args.dir.join(&def.wasm);
        let bytes = std::fs::read(&wasm).with_context(|| {
            format!(
                "reading {} (component {name}'s `wasm`); did its build write it?",
                wasm.display()
            )
        })?;
        let (record, new) = nats
            .components()
            .upload_if_changed(&ComponentName::new(name)?, bytes)
            .await?;
        let what = if new { "uploaded" } else { "unchanged," };
        println!(
            "{name}: {what} version {} ({} bytes)",
            record.version, record.size
        );
        for hint in invoke_hints(&record) {
            println!("  {hint}");
        }
    }
    if let Some(api) = api {
        let url = format!("{}/v1/apis", args.router.trim_end_matches('/'));
        let resp = reqwest::Client::new()
            .post(&url)
            .json(&api)
            .send()
            .await
            .with_context(|| format!("posting the routes to {url}; start a router (`revenant router` or `revenant up`) or pass --router"))?;
        if !resp.status().is_success() {
            bail!(
                "the router refused the routes ({}): {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        println!(
            "routes: API {} with {} route(s) at {}",
            api.name,
            api.routes.len(),
            args.router
        );
    }
    for s in &m.schedules {
        let worker = WorkerId::parse_path(&s.worker)?;
        let args_json = serde_json::to_string(&s.args)?;
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let spec = s
            .when
            .spec(
                worker,
                s.function.clone(),
                args_json.clone(),
                None,
                &fresh,
                revenant_types::now_ms(),
            )
            .map_err(|e| anyhow::anyhow!("{}: schedule of {}: {e}", manifest::FILE, s.worker))?;
        revenant_nats::schedules::put(&nats, &spec).await?;
        println!(
            "schedule {}/{}: {}({args_json})",
            s.worker, spec.id, s.function
        );
    }
    Ok(())
}
