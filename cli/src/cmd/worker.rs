//! `revenant worker new|list|get|delete|oplog|interrupt|resume|simulate-crash|snapshot|update|export|import`.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use revenant_nats::Nats;
use revenant_types::records::{ControlAction, WorkerRecord, WorkerStatus};
use revenant_types::snapshot::UpdateMode;
use revenant_types::{ComponentName, WorkerId};

use crate::NatsArgs;

#[derive(Subcommand)]
pub enum WorkerCmd {
    /// Create a worker explicitly, with environment variables and arguments fixed for life.
    New {
        component: ComponentName,
        name: String,
        /// KEY=VALUE, repeatable.
        #[arg(long = "env", value_parser = parse_env)]
        env: Vec<(String, String)>,
        /// An argument, repeatable.
        #[arg(long = "arg")]
        args: Vec<String>,
    },
    /// List workers.
    List {
        /// Only workers of this component.
        #[arg(long)]
        component: Option<ComponentName>,
        /// Only workers with this status (idle, running, suspended, failed, exited, interrupted).
        #[arg(long)]
        status: Option<WorkerStatus>,
        #[arg(long)]
        json: bool,
    },
    /// Show a worker's status.
    Get {
        /// <component>/<worker>
        worker: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a worker through the executor holding it: a running invocation is stopped,
    /// invocations sent before are answered `worker-deleted`; the next one starts anew.
    Delete {
        worker: String,
        /// How long to wait for the executor holding the worker, ms.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Interrupt a worker: stop its running invocation now (it runs again from its
    /// start on resume) and hold later invocations until it is resumed.
    Interrupt(ControlArgs),
    /// Resume an interrupted worker: the held invocations run in order, the interrupted one first.
    Resume(ControlArgs),
    /// Simulate a crash of a worker (a drill): the executor holding it drops its instance
    /// and all it holds of it, as if killed, and recovers it at once by replaying its
    /// oplog; a running invocation is cut short and runs on from its journal. Prints how
    /// long recovery took.
    SimulateCrash(ControlArgs),
    /// Take a snapshot of a worker now (its component must export revenant:api/snapshot)
    /// and trim its oplog behind it.
    Snapshot(ControlArgs),
    /// Move a worker to another version of its component, between invocations: wholly,
    /// or not at all (it keeps running its version and the error says why).
    Update {
        #[command(flatten)]
        args: ControlArgs,
        /// The component version to move to.
        #[arg(long)]
        to: u64,
        /// auto: replay the history on the new version (a divergence fails the update);
        /// snapshot: save on the old version, load on the new one.
        #[arg(long, default_value = "auto")]
        mode: UpdateMode,
    },
    /// Write a worker's state (its oplog as kept and the snapshots it names) as JSON.
    Export {
        /// <component>/<worker>
        worker: String,
        /// The file to write (default: stdout).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Create a worker from a `worker export` file (its component version must exist).
    Import {
        file: std::path::PathBuf,
        /// Create it as this <component>/<worker> instead of the exported one.
        #[arg(long = "as")]
        target: Option<String>,
    },
    /// Print a worker's oplog.
    Oplog {
        worker: String,
        /// First index to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long)]
        json: bool,
    },
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn worker_id(s: &str) -> anyhow::Result<WorkerId> {
    WorkerId::parse_path(s).with_context(|| format!("{s:?} is not <component>/<worker>"))
}

fn print_worker(r: &WorkerRecord) {
    let waiting = if r.waiting.is_empty() {
        String::new()
    } else {
        format!("\twaiting for {}", r.waiting.join(", "))
    };
    let parked = if r.pending_invocations > 0 {
        format!("\t{} parked", r.pending_invocations)
    } else {
        String::new()
    };
    println!(
        "{}\t{}\tversion {}\toplog {}{waiting}{parked}{}",
        r.id,
        r.status.as_str(),
        r.component_version,
        r.oplog_index,
        r.last_error
            .as_ref()
            .map(|e| format!("\terror: {e}"))
            .unwrap_or_default()
    );
}

/// Asks the executor holding the worker to interrupt or resume it and prints its state.
/// Arguments of `worker interrupt` and `worker resume`.
#[derive(clap::Args)]
pub struct ControlArgs {
    /// The worker, as `<component>/<worker>`.
    worker: String,
    /// How long to wait for the executor holding the worker, ms.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Print the worker's state as JSON.
    #[arg(long)]
    json: bool,
}

async fn control(nats: &Nats, args: ControlArgs, action: ControlAction) -> anyhow::Result<()> {
    let id = worker_id(&args.worker)?;
    let state = control_between_invocations(nats, &id, action, args.timeout_ms)
        .await
        .with_context(|| format!("{} {id}", action.as_str()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
    } else if let Some(ms) = state.recovered_ms {
        println!(
            "{id}\t{}\trecovered by replay in {ms:.1} ms",
            state.status.as_str()
        );
    } else {
        println!("{id}\t{}", state.status.as_str());
    }
    if action == ControlAction::Snapshot
        && let Some((_, batch)) = nats.oplog().last_batch(&id).await?
        && let Some(entry) = batch.entries.last()
    {
        println!("{}: {}", entry.kind(), entry.summary());
    }
    Ok(())
}

/// Sends a control request; snapshots and updates wait for the worker to be between
/// invocations (the executor answers `unavailable` while one runs), within the timeout.
pub(crate) async fn control_between_invocations(
    nats: &Nats,
    id: &WorkerId,
    action: ControlAction,
    timeout_ms: u64,
) -> Result<revenant_types::records::WorkerState, revenant_nats::ControlError> {
    let deadline = std::time::Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        let answer = nats
            .control(id, action, Duration::from_millis(timeout_ms))
            .await;
        let retry = matches!(
            action,
            ControlAction::Snapshot | ControlAction::Update { .. }
        ) && matches!(&answer, Err(revenant_nats::ControlError::Refused(e))
                if e.kind == revenant_types::ErrorKind::Unavailable && e.message.contains("running an invocation"));
        if !retry || std::time::Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(nats_args: NatsArgs, cmd: WorkerCmd) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    match cmd {
        WorkerCmd::New {
            component,
            name,
            env,
            args,
        } => {
            let id = WorkerId::new(component, name.parse()?);
            let record = revenant_nats::workers::create_worker(&nats, &id, args, env).await?;
            println!(
                "created worker {id} (component version {})",
                record.component_version
            );
        }
        WorkerCmd::List {
            component,
            status,
            json,
        } => {
            let list: Vec<_> = nats
                .workers()
                .list(component.as_ref())
                .await?
                .into_iter()
                .filter(|r| status.is_none_or(|s| r.status == s))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                list.iter().for_each(print_worker);
            }
        }
        WorkerCmd::Get { worker, json } => {
            let id = worker_id(&worker)?;
            let r = nats
                .workers()
                .get(&id)
                .await?
                .with_context(|| format!("worker {id} does not exist"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_worker(&r);
            }
        }
        WorkerCmd::Delete { worker, timeout_ms } => {
            let id = worker_id(&worker)?;
            let timeout = Duration::from_millis(timeout_ms);
            revenant_nats::workers::delete_worker(&nats, &id, timeout).await?;
            println!("deleted worker {id}");
        }
        WorkerCmd::Interrupt(args) => control(&nats, args, ControlAction::Interrupt).await?,
        WorkerCmd::Resume(args) => control(&nats, args, ControlAction::Resume).await?,
        WorkerCmd::Snapshot(args) => control(&nats, args, ControlAction::Snapshot).await?,
        WorkerCmd::SimulateCrash(args) => {
            control(&nats, args, ControlAction::SimulateCrash).await?
        }
        WorkerCmd::Update { args, to, mode } => {
            control(&nats, args, ControlAction::Update { to, mode }).await?
        }
        WorkerCmd::Export { worker, output } => {
            super::worker_export::export(&nats, &worker_id(&worker)?, output).await?
        }
        WorkerCmd::Import { file, target } => {
            let target = target.as_deref().map(worker_id).transpose()?;
            super::worker_export::import(&nats, file, target).await?
        }
        WorkerCmd::Oplog { worker, from, json } => {
            let id = worker_id(&worker)?;
            let read = nats.oplog().read(&id, from).await?;
            if read.entries.is_empty() && from <= 1 {
                bail!("worker {id} has no oplog (it does not exist)");
            }
            for (index, entry) in &read.entries {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "index": index, "kind": entry.kind(), "entry": revenant_types::json::oplog_entry(entry) })
                    );
                } else {
                    println!("{index:>6}  {:<22} {}", entry.kind(), entry.summary());
                }
            }
        }
    }
    Ok(())
}
