//! `revenant invoke <component>/<worker> <function> [WAVE args…]`: awaits the
//! result by default (the nats crate's invoke-and-await, with a private reply
//! inbox; a duplicate is answered from `RVN_RESULTS`), `--enqueue` only publishes.

use std::time::Duration;

use anyhow::{Context, bail};
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_types::WorkerId;
use revenant_types::oplog::InvocationOutcome;
use revenant_types::records::error_json;

use crate::NatsArgs;

#[derive(clap::Args)]
pub struct InvokeArgs {
    /// <component>/<worker>
    pub worker: String,
    /// Exported function: pkg:ns/iface.{fn}, or the bare fn when unambiguous.
    pub function: String,
    /// Arguments as WAVE values (e.g. `5` `"text"` `{name: "x", price: 1.5}`), or one JSON array with --json.
    pub args: Vec<String>,
    /// Arguments are one JSON array.
    #[arg(long)]
    pub json: bool,
    /// Publish and return without waiting for the result.
    #[arg(long)]
    pub enqueue: bool,
    /// Idempotency key (default: a new UUID).
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// How long to wait for the result, seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

pub async fn run(nats_args: NatsArgs, args: InvokeArgs) -> anyhow::Result<()> {
    let id = WorkerId::parse_path(&args.worker)
        .with_context(|| format!("{:?} is not <component>/<worker>", args.worker))?;
    let nats = super::connect(&nats_args).await?;
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let (content_type, body) = if args.json {
        let text = if args.args.is_empty() {
            "[]".to_owned()
        } else {
            args.args.join(" ")
        };
        serde_json::from_str::<serde_json::Value>(&text)
            .context("--json expects one JSON array of arguments")?;
        (headers::CONTENT_TYPE_JSON, text)
    } else {
        (headers::CONTENT_TYPE_WAVE, args.args.join(", "))
    };
    let req = InvocationRequest {
        function: args.function.clone(),
        idempotency_key: Some(key.clone()),
        reply_to: None,
        content_type: Some(content_type.into()),
        body: body.into(),
        trace: Default::default(),
        caller: None,
    };
    if args.enqueue {
        let published = nats.publish_invocation(&id, &req).await?;
        println!(
            "enqueued {id} {} (idempotency key {key}, stream sequence {}{})",
            args.function,
            published.sequence,
            if published.duplicate {
                ", a duplicate of an earlier invocation"
            } else {
                ""
            }
        );
        return Ok(());
    }
    let replies = nats.replies().await?;
    let mut inbox = replies.inbox();
    let timeout = Duration::from_secs(args.timeout);
    let awaited = nats.invoke_and_await(&id, req, &mut inbox, timeout).await?;
    match awaited.outcome {
        Some(InvocationOutcome::Ok(json)) => {
            println!("{json}");
            Ok(())
        }
        Some(InvocationOutcome::Err(e)) => bail!("{}", error_json(&e)),
        None => bail!(
            "no result within {}s (idempotency key {key}); is an executor running?",
            args.timeout
        ),
    }
}
