//! `revenant component add|list|get`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use revenant_types::ComponentName;
use revenant_types::records::ComponentRecord;

use crate::NatsArgs;

#[derive(Subcommand)]
pub enum ComponentCmd {
    /// Upload a component binary as the next version of <name>.
    Add { name: ComponentName, file: PathBuf },
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

pub async fn run(nats_args: NatsArgs, cmd: ComponentCmd) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    match cmd {
        ComponentCmd::Add { name, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let record = nats.components().upload(&name, bytes).await?;
            print_record(&record);
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
    }
    Ok(())
}
