//! `revenant invoke <component>/<worker> <function> [WAVE args…]`: awaits the
//! result by default (the nats crate's invoke-and-await, with a private reply
//! inbox; a duplicate is answered from `RVN_RESULTS`), `--enqueue` only publishes.
//! With `--at`, `--in` or `--cron` it schedules the invocation instead
//! (`revenant_nats::schedules::put`) and prints the schedule's id.

use std::time::Duration;

use anyhow::{Context, bail};
use revenant_nats::headers;
use revenant_nats::invocations::InvocationRequest;
use revenant_types::WorkerId;
use revenant_types::oplog::InvocationOutcome;
use revenant_types::records::error_json;
use revenant_types::schedule::{ScheduleRequest, When};

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
    /// Schedule it once at this RFC 3339 time (e.g. 2026-12-01T09:30:00Z) instead of running it now.
    #[arg(long, conflicts_with_all = ["in_", "cron"])]
    pub at: Option<String>,
    /// Schedule it once after this duration (e.g. 90s, 5m, 1h30m, 2d).
    #[arg(long = "in", value_name = "DURATION", conflicts_with = "cron")]
    pub in_: Option<String>,
    /// Schedule it repeatedly: 6 cron fields, seconds first ("0 30 9 * * 1-5"), @hourly, @daily, or @every 10s (nats-server 2.14+).
    #[arg(long)]
    pub cron: Option<String>,
    /// The IANA time zone of --cron (default UTC), e.g. Europe/Paris.
    #[arg(long, requires = "cron")]
    pub tz: Option<String>,
    /// The schedule's name (default: a new UUID); scheduling the same name again replaces it.
    #[arg(long)]
    pub name: Option<String>,
    /// What a firing does while another invocation of the worker runs: queue (default) or skip.
    #[arg(long)]
    pub overlap: Option<String>,
    /// Skip (and record) firings later than this after their time, e.g. 5m (default: no bound).
    #[arg(long)]
    pub catchup: Option<String>,
}

impl InvokeArgs {
    fn schedule(&self) -> ScheduleRequest {
        ScheduleRequest {
            at: self.at.clone(),
            in_: self.in_.clone(),
            cron: self.cron.clone(),
            tz: self.tz.clone(),
            name: self.name.clone(),
            overlap: self.overlap.clone(),
            catchup: self.catchup.clone(),
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

pub async fn run(nats_args: NatsArgs, args: InvokeArgs) -> anyhow::Result<()> {
    let id = WorkerId::parse_path(&args.worker)
        .with_context(|| format!("{:?} is not <component>/<worker>", args.worker))?;
    let schedule = args.schedule();
    let scheduled = schedule.is_scheduled();
    if !scheduled
        && (schedule.name.is_some() || schedule.overlap.is_some() || schedule.catchup.is_some())
    {
        bail!(
            "--name, --overlap and --catchup apply to scheduled invocations: add --at, --in or --cron"
        );
    }
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
    if scheduled {
        let spec = schedule.spec(
            id.clone(),
            args.function.clone(),
            body,
            Some(content_type.into()),
            &uuid::Uuid::new_v4().simple().to_string(),
            revenant_types::now_ms(),
        )?;
        if args.enqueue {
            bail!("--enqueue does not apply to a scheduled invocation (it is never awaited)");
        }
        let nats = super::connect(&nats_args).await?;
        let put = revenant_nats::schedules::put(&nats, &spec).await?;
        let when = match &spec.when {
            When::At(at) => format!("at {}", revenant_types::schedule::rfc3339_second(*at)?),
            When::Cron { expr, time_zone } => format!(
                "on {expr:?}{}",
                time_zone
                    .as_ref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            ),
        };
        println!(
            "scheduled {id}/{} {} {when}{}",
            put.id,
            args.function,
            put.idempotency_key
                .map(|k| format!(" (idempotency key {k})"))
                .unwrap_or_default()
        );
        return Ok(());
    }
    let nats = super::connect(&nats_args).await?;
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let req = InvocationRequest {
        function: args.function.clone(),
        idempotency_key: Some(key.clone()),
        reply_to: None,
        content_type: Some(content_type.into()),
        body: body.into(),
        trace: Default::default(),
        caller: None,
        subscription: None,
        // `GET /v1/invocations/<key>` finds it, as for the router's invocations.
        index: true,
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
