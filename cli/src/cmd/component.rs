//! `revenant component add|update-workers|list|get|client-wit`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use revenant_types::ComponentName;
use revenant_types::records::ComponentRecord;
use revenant_types::records::{ComponentOptions, ControlAction};
use revenant_types::snapshot::{SnapshotPolicy, UpdateMode};

use crate::NatsArgs;

#[derive(Subcommand)]
pub enum ComponentCmd {
    /// Upload a component binary as the next version of <name>.
    Add {
        name: ComponentName,
        file: PathBuf,
        /// Snapshot each worker after this many invocations (the component must export
        /// `revenant:api/snapshot`); the oplog is trimmed behind the snapshots.
        #[arg(long, value_name = "N")]
        snapshot_every: Option<u64>,
        /// Snapshot each worker after an invocation this long after its last one
        /// (`90s`, `10m`, `1h`).
        #[arg(long, value_name = "DURATION", value_parser = parse_period)]
        snapshot_period: Option<u64>,
        /// Ephemeral: each invocation on a fresh instance, journal in memory only
        /// (results still deduplicated by key).
        #[arg(long)]
        ephemeral: bool,
    },
    /// Move every worker of a component to version `--to` (each wholly or not at all;
    /// prints each worker's outcome, and fails if any stayed on its version).
    UpdateWorkers {
        name: ComponentName,
        #[arg(long)]
        to: u64,
        /// auto (replay on the new version) or snapshot (save on the old, load on the new).
        #[arg(long, default_value = "auto")]
        mode: UpdateMode,
        /// How long to wait for each worker's executor, ms.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// List components (latest versions).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a component's versions and exported functions.
    Get {
        name: ComponentName,
        #[arg(long)]
        json: bool,
    },
    /// Print the WIT of a typed RPC client for a component: import it in another
    /// component to call this one's workers as plain functions.
    ClientWit {
        /// A deployed component's name, or a local `.wasm` file (then `--name` says the
        /// name it is, or will be, deployed under; default: the file's stem).
        component: String,
        #[arg(long)]
        name: Option<ComponentName>,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// A snapshot period in milliseconds (`90s`, `10m`, `1h`).
fn parse_period(s: &str) -> Result<u64, String> {
    revenant_types::schedule::parse_duration_ms(s).map_err(|e| e.to_string())
}

pub fn print_record(r: &ComponentRecord) {
    println!(
        "{} version {} ({} bytes, sha256 {})",
        r.name,
        r.version,
        r.size,
        &r.hash[..16.min(r.hash.len())]
    );
    for f in &r.exports {
        println!("  {}", f.signature());
    }
}

/// The client WIT for a local `.wasm` file or a deployed component.
async fn client_wit(
    nats_args: &NatsArgs,
    component: &str,
    name: Option<ComponentName>,
) -> anyhow::Result<String> {
    let path = std::path::Path::new(component);
    let (bytes, name) = if component.ends_with(".wasm") || path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {component}"))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_default();
        let name = match name {
            Some(n) => n.to_string(),
            None => stem,
        };
        (bytes, name)
    } else {
        let name = ComponentName::new(component).with_context(|| {
            format!("{component:?} is neither a .wasm file nor a component name")
        })?;
        let nats = super::connect(nats_args).await?;
        let record = nats.components().latest(&name).await?.with_context(|| {
            format!("component {name} does not exist; upload it with `revenant component add {name} <file.wasm>`")
        })?;
        let bytes = nats.components().binary(&name, record.version).await?;
        (bytes, name.to_string())
    };
    Ok(revenant_components::client_wit(&bytes, &name)?)
}

pub async fn run(nats_args: NatsArgs, cmd: ComponentCmd) -> anyhow::Result<()> {
    if let ComponentCmd::ClientWit {
        component,
        name,
        output,
    } = &cmd
    {
        let text = client_wit(&nats_args, component, name.clone()).await?;
        match output {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
            }
            None => print!("{text}"),
        }
        return Ok(());
    }
    let nats = super::connect(&nats_args).await?;
    match cmd {
        ComponentCmd::Add {
            name,
            file,
            snapshot_every,
            snapshot_period,
            ephemeral,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let policy = SnapshotPolicy {
                every: snapshot_every.unwrap_or(0),
                period_ms: snapshot_period.unwrap_or(0),
            };
            let options = ComponentOptions {
                snapshot: policy,
                ephemeral,
            };
            let started = crate::progress::step(&format!(
                "uploading {name} ({}): checking, compiling and storing it",
                crate::progress::megabytes(bytes.len())
            ));
            let record = nats
                .components()
                .upload_options(&name, bytes, options)
                .await?;
            eprintln!("uploaded in {:.1} s", started.elapsed().as_secs_f64());
            if !policy.is_off() && !record.exports_snapshot() {
                eprintln!(
                    "warning: {name} does not export revenant:api/snapshot (save, load): its workers take no snapshots"
                );
            }
            print_record(&record);
        }
        ComponentCmd::UpdateWorkers {
            name,
            to,
            mode,
            timeout_ms,
        } => {
            let workers = nats.workers().list(Some(&name)).await?;
            let mut stayed = 0;
            let mut progress = crate::progress::Progress::new(
                format!("updating the workers of {name} to version {to}"),
                Some(workers.len() as u64),
            );
            for w in &workers {
                progress.inc(0);
                let action = ControlAction::Update { to, mode };
                match super::worker::control_between_invocations(&nats, &w.id, action, timeout_ms)
                    .await
                {
                    Ok(_) => println!("{}\tversion {to}", w.id),
                    Err(e) => {
                        stayed += 1;
                        println!("{}\tstays on version {}: {e}", w.id, w.component_version);
                    }
                }
                progress.inc(1);
            }
            progress.finish(&format!(
                "{} of {} workers moved to version {to}",
                workers.len() - stayed,
                workers.len()
            ));
            anyhow::ensure!(
                stayed == 0,
                "{stayed} of {} workers stayed on their version",
                workers.len()
            );
        }
        ComponentCmd::List { json } => {
            let list = nats.components().list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!(
                    "no components; upload one with `revenant component add <name> <file.wasm>`"
                );
            } else {
                for r in &list {
                    println!(
                        "{}\tversion {}\t{} exports\t{} bytes",
                        r.name,
                        r.version,
                        r.exports.len(),
                        r.size
                    );
                }
            }
        }
        ComponentCmd::Get { name, json } => {
            let versions = nats.components().versions(&name).await?;
            anyhow::ensure!(
                !versions.versions.is_empty(),
                "component {name} does not exist; upload it with `revenant component add {name} <file.wasm>`"
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&versions.versions)?);
            } else {
                for r in &versions.versions {
                    print_record(r);
                }
            }
        }
        ComponentCmd::ClientWit { .. } => unreachable!("handled above"),
    }
    Ok(())
}
