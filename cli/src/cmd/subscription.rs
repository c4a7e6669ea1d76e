//! `revenant subscription add | list | pause | resume | retry | skip | delete`:
//! subscriptions of JetStream streams into workers (ARCHITECTURE.md
//! "Subscriptions"), through the nats crate's `subscriptions` (like the router).

use anyhow::{Context, bail};
use clap::Subcommand;
use revenant_nats::subscriptions::NewSubscription;
use revenant_types::subscription::{SubscriptionSpec, SubscriptionStatus};

use crate::NatsArgs;

#[derive(Subcommand)]
pub enum SubscriptionCmd {
    /// Bind a stream to a component function: each message becomes one invocation of
    /// the worker the template names, exactly once, in order per worker.
    Add {
        /// The subscription's name (`[A-Za-z0-9_-]`).
        name: String,
        /// The source JetStream stream (it must exist).
        #[arg(long)]
        stream: String,
        /// A subject filter within the stream (repeat for several; default: all its subjects).
        #[arg(long = "filter")]
        filters: Vec<String>,
        /// The component whose workers get the messages.
        #[arg(long)]
        component: String,
        /// The worker-name template over subject tokens and headers, e.g.
        /// 'orders-{token:2}', '{token:-1}', '{header:Tenant}'.
        #[arg(long)]
        worker: String,
        /// The export to call: any function (the JSON payload is its arguments, an array or
        /// an object by parameter name), or revenant:api/subscriber.handle (the whole
        /// message). Default: revenant:api/subscriber.handle.
        #[arg(long)]
        function: Option<String>,
        /// Messages in flight at most (delivered, not yet applied).
        #[arg(long)]
        window: Option<u32>,
        /// What a failed message does: block-key (its worker waits until you retry or skip
        /// it) or dead-letter (to RVN_DEAD; the worker goes on).
        #[arg(long, value_name = "block-key|dead-letter")]
        on_failure: Option<String>,
        /// Where to start: new, all, seq:<n> or an RFC 3339 time.
        #[arg(long)]
        start: Option<String>,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Apply a subscriptions file (YAML): create its missing streams, add its missing
    /// subscriptions (see examples/clickstream/pipeline.yaml).
    Apply { file: std::path::PathBuf },
    /// List subscriptions with their lag (pending, in flight, oldest), counts and blocked keys.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Stop delivering messages (those in flight finish).
    Pause { name: String },
    /// Deliver again, from where it stopped.
    Resume { name: String },
    /// Try every blocked key's failed message again (under a new key, so it runs again).
    Retry { name: String },
    /// Dead-letter every blocked key's failed message and go on.
    Skip { name: String },
    /// Delete a subscription and its consumer (the stream is not touched).
    Delete { name: String },
}

/// One line of text per subscription.
pub fn line(spec: &SubscriptionSpec, status: Option<&SubscriptionStatus>) -> String {
    let filters = if spec.filters.is_empty() {
        "*".to_owned()
    } else {
        spec.filters.join(",")
    };
    let state = if spec.paused { "paused" } else { "active" };
    let lag = status.map_or_else(
        || "no forwarder yet".to_owned(),
        |s| {
            let mut text = format!(
                "pending {} in-flight {} oldest {:.1}s applied {} dead-lettered {} on {}",
                s.pending,
                s.in_flight,
                s.oldest_age_ms as f64 / 1000.0,
                s.applied,
                s.dead_lettered,
                s.owner
            );
            for b in &s.blocked {
                text.push_str(&format!(
                    "\n  blocked {} at {}:{}: {}",
                    b.worker, spec.stream, b.sequence, b.error
                ));
            }
            if let Some(e) = &s.error {
                text.push_str(&format!("\n  error: {e}"));
            }
            text
        },
    );
    format!(
        "{}\t{state}\t{}:{filters} → {}/{} {}\twindow {} {}\t{lag}",
        spec.name,
        spec.stream,
        spec.component,
        spec.worker,
        spec.function,
        spec.window,
        spec.on_failure
    )
}

/// Applies the subscriptions file `text` (named `what` in errors).
pub async fn apply(
    nats: &revenant_nats::Nats,
    text: &str,
    what: &str,
) -> anyhow::Result<Vec<String>> {
    let file: revenant_nats::subscriptions::SubscriptionsFile = serde_yaml::from_str(text)
        .with_context(|| {
            format!("{what} is not a subscriptions file; expected streams: [{{name, subjects}}] and subscriptions: [{{name, stream, filters, component, worker, function, window, on-failure, start}}]")
        })?;
    nats.apply_subscriptions(&file)
        .await
        .with_context(|| format!("applying {what}"))
}

pub async fn run(nats_args: NatsArgs, cmd: SubscriptionCmd) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    match cmd {
        SubscriptionCmd::Add {
            name,
            stream,
            filters,
            component,
            worker,
            function,
            window,
            on_failure,
            start,
            paused,
        } => {
            let new = NewSubscription {
                name,
                stream,
                filters,
                component,
                worker,
                function,
                window,
                on_failure,
                start,
                paused,
            };
            let spec = nats.add_subscription(&new).await?;
            println!("{}", line(&spec, None));
        }
        SubscriptionCmd::Apply { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            for line in apply(&nats, &text, &file.display().to_string()).await? {
                println!("{line}");
            }
        }
        SubscriptionCmd::List { json } => {
            let all = nats.list_subscriptions().await?;
            if json {
                let items: Vec<_> = all
                    .iter()
                    .map(|(spec, status)| serde_json::json!({"spec": spec, "status": status}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if all.is_empty() {
                println!("no subscriptions (add one with revenant subscription add)");
            } else {
                for (spec, status) in &all {
                    println!("{}", line(spec, status.as_ref()));
                }
            }
        }
        SubscriptionCmd::Pause { name } => {
            let spec = nats.update_subscription(&name, |s| s.paused = true).await?;
            println!("{}", line(&spec, None));
        }
        SubscriptionCmd::Resume { name } => {
            let spec = nats
                .update_subscription(&name, |s| s.paused = false)
                .await?;
            println!("{}", line(&spec, None));
        }
        SubscriptionCmd::Retry { name } => {
            let spec = nats.update_subscription(&name, |s| s.retries += 1).await?;
            println!(
                "{}: blocked keys retry their failed message (retry {})",
                spec.name, spec.retries
            );
        }
        SubscriptionCmd::Skip { name } => {
            let spec = nats.update_subscription(&name, |s| s.skips += 1).await?;
            println!(
                "{}: blocked keys dead-letter their failed message and go on",
                spec.name
            );
        }
        SubscriptionCmd::Delete { name } => {
            if !nats.delete_subscription(&name).await? {
                bail!("there is no subscription named {name}; see revenant subscription list");
            }
            println!("deleted subscription {name}");
        }
    }
    Ok(())
}
