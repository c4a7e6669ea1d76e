//! `revenant promise complete|get|list`: promises from the command line,
//! through the promise store (`revenant_nats::promises`) like the router.
//! `complete` exits 0 only when it completed the promise; a promise completed
//! before, or one nobody created, is a non-zero exit saying so.

use anyhow::{Context, bail};
use clap::Subcommand;
use revenant_nats::promises::Completion;
use revenant_types::{PromiseId, PromiseRecord, PromiseState};

use crate::NatsArgs;

#[derive(Subcommand)]
pub enum PromiseCmd {
    /// Complete a promise with a JSON payload (the first completion wins; the waiting worker wakes).
    Complete {
        /// The promise id, `<component>/<worker>/<index>`.
        id: PromiseId,
        /// The payload: a JSON value, e.g. '"approved"' or '{"ok": true}'.
        json: String,
    },
    /// Show a promise: its state and, once completed, its payload.
    Get {
        /// The promise id, `<component>/<worker>/<index>`.
        id: PromiseId,
        /// Print the record as JSON (the payload under `payload`, or `payload-base64` when not JSON).
        #[arg(long)]
        json: bool,
    },
    /// List pending promises with their ids.
    List {
        /// Only the promises of `<component>/<worker>`, or of a component's workers (`<component>`).
        filter: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// `(component, worker)` of a listing filter: `<component>` or `<component>/<worker>`.
pub fn list_filter(filter: Option<&str>) -> anyhow::Result<(Option<&str>, Option<&str>)> {
    let Some(f) = filter else {
        return Ok((None, None));
    };
    let (c, w) = match f.split_once('/') {
        Some((c, w)) => (c, Some(w)),
        None => (f, None),
    };
    revenant_types::names::validate("component", c)
        .with_context(|| format!("{f:?} is not <component> or <component>/<worker>"))?;
    if let Some(w) = w {
        revenant_types::names::validate("worker", w)
            .with_context(|| format!("{f:?} is not <component> or <component>/<worker>"))?;
    }
    Ok((Some(c), w))
}

/// One line of text: `<id>  <state>  <payload>` (the payload as text when it is UTF-8).
pub fn line(id: &PromiseId, r: &PromiseRecord) -> String {
    let payload = match &r.payload {
        None => String::new(),
        Some(p) => match std::str::from_utf8(p) {
            Ok(text) => format!("\t{text}"),
            Err(_) => format!("\t({} bytes, not UTF-8; see --json)", p.len()),
        },
    };
    format!("{id}\t{}{payload}", r.state.as_str())
}

pub async fn run(nats_args: NatsArgs, cmd: PromiseCmd) -> anyhow::Result<()> {
    let nats = super::connect(&nats_args).await?;
    let store = nats.promises();
    match cmd {
        PromiseCmd::Complete { id, json } => {
            serde_json::from_str::<serde_json::Value>(&json).with_context(|| {
                format!(
                    "the payload {json:?} is not JSON; expected a JSON value, e.g. '\"approved\"' or '{{\"ok\": true}}'"
                )
            })?;
            match store.complete(&id, json.into()).await? {
                Completion::Completed => println!("completed promise {id}"),
                Completion::AlreadyCompleted => bail!(
                    "promise {id} was already completed; its payload stays the first one (revenant promise get {id})"
                ),
            }
        }
        PromiseCmd::Get { id, json } => {
            let record = store
                .get(&id)
                .await?
                .with_context(|| format!("promise {id} does not exist"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&record.to_json(&id))?);
            } else {
                println!("{}", line(&id, &record));
            }
        }
        PromiseCmd::List { filter, json } => {
            let (component, worker) = list_filter(filter.as_deref())?;
            let pending: Vec<_> = store
                .list(component, worker)
                .await?
                .into_iter()
                .filter(|(_, r)| r.state == PromiseState::Pending)
                .collect();
            if json {
                let all: Vec<_> = pending.iter().map(|(id, r)| r.to_json(id)).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                pending
                    .iter()
                    .for_each(|(id, r)| println!("{}", line(id, r)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_filter_is_a_component_or_a_worker_path() {
        assert_eq!(list_filter(None).unwrap(), (None, None));
        assert_eq!(
            list_filter(Some("approval")).unwrap(),
            (Some("approval"), None)
        );
        assert_eq!(
            list_filter(Some("approval/a1")).unwrap(),
            (Some("approval"), Some("a1"))
        );
        for bad in ["a.b", "approval/", "a/b/c", "/a1"] {
            let err = format!("{:#}", list_filter(Some(bad)).unwrap_err());
            assert!(err.contains("<component>/<worker>"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_line_shows_the_payload_as_text_when_it_is() {
        let id: PromiseId = "c/w/3".parse().unwrap();
        let mut r = PromiseRecord::pending(1);
        assert_eq!(line(&id, &r), "c/w/3\tpending");
        r.state = PromiseState::Completed;
        r.payload = Some(b"\"yes\"".to_vec());
        assert_eq!(line(&id, &r), "c/w/3\tcompleted\t\"yes\"");
        r.payload = Some(vec![0xff]);
        assert!(line(&id, &r).contains("1 bytes, not UTF-8"));
    }
}
