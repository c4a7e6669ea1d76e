//! `revenant worker export|import`: a worker's state as one JSON document — its
//! oplog as kept (each entry in its kebab-case JSON form, with its index) and the
//! bytes of the snapshots those entries name (base64) — and a new worker made from
//! one. An imported worker is recovered like any other: from its newest snapshot
//! and the entries after it, or by replaying its whole oplog. The import writes
//! through the fenced oplog store expecting an empty oplog, so it never overwrites an
//! existing worker.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use revenant_nats::Nats;
use revenant_types::codec::OplogBatch;
use revenant_types::oplog::{OplogEntry, OplogIndex};
use revenant_types::{ComponentName, WorkerId};
use serde::{Deserialize, Serialize};

/// The document's `format`.
const FORMAT: &str = "revenant-worker/1";
/// Entries per appended message on import.
const CHUNK: usize = 500;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Exported {
    format: String,
    /// `<component>/<worker>` it was exported from.
    worker: String,
    /// The component version it ran at export.
    component_version: u64,
    /// The oplog as kept: `(index, entry)`.
    oplog: Vec<(OplogIndex, OplogEntry)>,
    /// The bytes of each snapshot an entry names, hex, by object name.
    snapshots: BTreeMap<String, String>,
}

/// Writes `worker`'s state to `output` (stdout when `None`).
pub async fn export(nats: &Nats, id: &WorkerId, output: Option<PathBuf>) -> anyhow::Result<()> {
    let read = nats.oplog().read(id, 1).await?;
    if read.entries.is_empty() {
        bail!("worker {id} has no oplog (it does not exist)");
    }
    let mut snapshots = BTreeMap::new();
    for (_, entry) in &read.entries {
        if let OplogEntry::Snapshot { object, .. } = entry
            // A snapshot whose object is gone is left out; recovery falls back as usual.
            && let Ok(bytes) = nats.snapshots().get(object).await
        {
            snapshots.insert(object.clone(), hex::encode(bytes));
        }
    }
    // The version replay gives it (a trimmed oplog's creation is in its snapshot).
    let version = revenant_executor::replay::plan(read.entries.clone())
        .create
        .map_or(0, |c| c.component_version);
    let doc = Exported {
        format: FORMAT.into(),
        worker: id.to_string(),
        component_version: version,
        oplog: read.entries,
        snapshots,
    };
    let text = serde_json::to_string_pretty(&doc)?;
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("exported {id} to {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}

/// Creates worker `target` (default: the exported one) from the document in `input`.
pub async fn import(nats: &Nats, input: PathBuf, target: Option<WorkerId>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(&input).with_context(|| format!("reading {}", input.display()))?;
    let mut doc: Exported = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a `revenant worker export` document",
            input.display()
        )
    })?;
    if doc.format != FORMAT {
        bail!(
            "{} has format {:?}; expected {FORMAT:?}",
            input.display(),
            doc.format
        );
    }
    let id = match target {
        Some(id) => id,
        None => WorkerId::parse_path(&doc.worker)
            .with_context(|| format!("{:?} is not <component>/<worker>", doc.worker))?,
    };
    let component = ComponentName::new(id.component.as_str())?;
    if nats
        .components()
        .record(&component, doc.component_version)
        .await?
        .is_none()
    {
        bail!(
            "component {component} has no version {}: upload it first (`revenant component add`)",
            doc.component_version
        );
    }
    // Snapshots move to the new worker's names; their stream sequences mean nothing here.
    for (_, entry) in doc.oplog.iter_mut() {
        if let OplogEntry::Snapshot {
            object,
            covers,
            covers_seq,
            ..
        } = entry
        {
            let renamed = revenant_nats::Namespace::snapshot_object(&id, *covers);
            if let Some(data) = doc.snapshots.get(object.as_str()) {
                let bytes = hex::decode(data)
                    .with_context(|| format!("the snapshot {object} is not hex"))?;
                nats.snapshots().overwrite(&renamed, bytes).await?;
            }
            *object = renamed;
            *covers_seq = 0;
        }
    }
    let oplog = nats.oplog();
    let mut last_seq = 0;
    for chunk in doc.oplog.chunks(CHUNK) {
        let batch = OplogBatch {
            first: chunk[0].0,
            entries: chunk.iter().map(|(_, e)| e.clone()).collect(),
        };
        last_seq = oplog.append(&id, last_seq, &batch).await.with_context(|| {
            format!("writing the oplog of {id} (does the worker exist already?)")
        })?;
    }
    println!(
        "imported {id} ({} oplog entries, {} snapshots, component version {})",
        doc.oplog.len(),
        doc.snapshots.len(),
        doc.component_version
    );
    Ok(())
}
