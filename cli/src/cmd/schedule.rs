//! `revenant schedule list [<component>/<worker>]` and `revenant schedule cancel
//! <component>/<worker>/<id>`: scheduled invocations and cron, through the nats
//! crate's `schedules` (like the router). Schedules are made with `revenant
//! invoke … --at | --in | --cron`. `cancel` exits non-zero when there was no
//! such pending schedule.

use anyhow::{Context, bail};
use clap::Subcommand;
use revenant_nats::schedules::{self, ScheduleInfo};
use revenant_types::WorkerId;

use crate::NatsArgs;

#[derive(Subcommand)]
pub enum ScheduleCmd {
    /// List schedules (pending, and one-offs that fired) with their next fire time and last firing.
    List {
        /// Only those of `<component>/<worker>`.
        worker: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a schedule: it never fires again.
    Cancel {
        /// `<component>/<worker>/<id>`, as `schedule list` and `invoke --at|--in|--cron` print it.
        id: String,
    },
}

/// `(worker, id)` of `<component>/<worker>/<id>`.
pub fn parse_id(text: &str) -> anyhow::Result<(WorkerId, String)> {
    let expected = || {
        format!(
            "{text:?} is not a schedule id; expected <component>/<worker>/<id>, e.g. counter/c1/c-daily"
        )
    };
    let (path, id) = text.rsplit_once('/').with_context(expected)?;
    let w = WorkerId::parse_path(path).with_context(expected)?;
    revenant_types::schedule::check_id(id).with_context(expected)?;
    Ok((w, id.to_owned()))
}

/// One line of text: `<c>/<w>/<id>  <schedule>  next <time>  last <outcome>`.
pub fn line(s: &ScheduleInfo) -> String {
    let schedule = match (&s.schedule, &s.time_zone) {
        (Some(p), Some(tz)) => format!("{p} ({tz})"),
        (Some(p), None) => p.clone(),
        (None, _) => "(done)".into(),
    };
    let last = s.last_firing.as_ref().map_or_else(
        || "never fired".to_owned(),
        |l| {
            format!(
                "last {} at {}{}",
                serde_json::to_value(l.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                revenant_types::schedule::rfc3339_ms(l.at),
                l.message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )
        },
    );
    format!(
        "{}/{}\t{}\t{}\tnext {}\t{}",
        s.worker,
        s.id,
        s.function.as_deref().unwrap_or("-"),
        schedule,
        s.next.as_deref().unwrap_or("-"),
        last
    )
}

pub async fn run(nats_args: NatsArgs, cmd: ScheduleCmd) -> anyhow::Result<()> {
    match cmd {
        ScheduleCmd::List { worker, json } => {
            let w = worker
                .as_deref()
                .map(|w| {
                    WorkerId::parse_path(w)
                        .with_context(|| format!("{w:?} is not <component>/<worker>"))
                })
                .transpose()?;
            let nats = super::connect(&nats_args).await?;
            let list = schedules::list(&nats, w.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for s in &list {
                    println!("{}", line(s));
                }
            }
            Ok(())
        }
        ScheduleCmd::Cancel { id } => {
            let (w, sid) = parse_id(&id)?;
            let nats = super::connect(&nats_args).await?;
            if schedules::cancel(&nats, &w, &sid).await? {
                println!("cancelled {id}");
                Ok(())
            } else {
                bail!(
                    "no pending schedule {id} (it fired already, was cancelled, or never existed)"
                )
            }
        }
    }
}
