//! `revenant invoke <component>/<worker> <function> [WAVE args…]`: awaits the
//! result by default (published to a private inbox), `--enqueue` only publishes.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_types::WorkerId;

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
    let inbox = nats.client().new_inbox();
    let mut replies = if args.enqueue {
        None
    } else {
        Some(nats.client().subscribe(inbox.clone()).await?)
    };
    let req = InvocationRequest {
        function: args.function.clone(),
        idempotency_key: Some(key.clone()),
        reply_to: replies.as_ref().map(|_| inbox.clone()),
        content_type: Some(content_type.into()),
        body: body.into(),
        trace: Default::default(),
    };
    let published = nats.publish_invocation(&id, &req).await?;
    let Some(replies) = replies.as_mut() else {
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
    };
    let timeout = Duration::from_secs(args.timeout);
    let no_result = || {
        format!(
            "no result within {}s (idempotency key {key}); is an executor running?",
            args.timeout
        )
    };
    if published.duplicate {
        // Not stored again, so nobody answers our inbox: the original's result lands in RVN_RESULTS.
        let results = nats.watch_result(&key).await?;
        let mut results = Box::pin(results);
        let record = tokio::time::timeout(timeout, results.next())
            .await
            .with_context(no_result)?
            .context("result watch closed")?;
        let (status, body) = record.status_and_body();
        return if status == headers::STATUS_OK {
            println!("{body}");
            Ok(())
        } else {
            bail!("{body}")
        };
    }
    let reply = tokio::time::timeout(timeout, replies.next())
        .await
        .with_context(no_result)?
        .context("reply subscription closed")?;
    let status = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::STATUS))
        .map(|v| v.as_str().to_owned());
    let body = String::from_utf8_lossy(&reply.payload).into_owned();
    if status.as_deref() == Some(headers::STATUS_OK) {
        println!("{body}");
        Ok(())
    } else {
        bail!("{body}")
    }
}
