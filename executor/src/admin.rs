//! Administrative operations shared by the CLI and the HTTP router: creating a
//! worker explicitly (a `Create` oplog entry appended with expected sequence 0,
//! so two creators cannot both win) and deleting one, plus the structural
//! shape of an export's parameters, decoded from the component's WIT without
//! compiling it (the router validates API definitions with it).
//!
//! It does not run workers; the runtime recovers a created worker on its first
//! invocation.

use revenant_nats::{AppendError, Nats};
use revenant_types::codec::OplogBatch;
use revenant_types::oplog::OplogEntry;
use revenant_types::records::{WorkerRecord, WorkerStatus};
use revenant_types::{ComponentName, WorkerId};
use serde::{Deserialize, Serialize};
use wit_parser::{Resolve, Type, TypeDefKind, WorldItem};

use revenant_types::now_ms;

/// Why an administrative operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "component {0} does not exist; upload it with `revenant component add {0} <file.wasm>`"
    )]
    UnknownComponent(ComponentName),
    #[error("worker {0} already exists")]
    AlreadyExists(WorkerId),
    #[error("worker {0} does not exist")]
    UnknownWorker(WorkerId),
    #[error("component {component} exports no function `{function}`")]
    UnknownFunction { component: String, function: String },
    #[error("the component's WIT could not be decoded: {0}")]
    Decode(String),
    #[error("NATS: {0}")]
    Nats(#[from] revenant_nats::Error),
}

/// Creates worker `id` with `args` and `env` fixed for life, at the latest
/// version of its component. Fails with [`AdminError::AlreadyExists`] when the
/// worker has an oplog already (explicitly created or invoked before).
pub async fn create_worker(
    nats: &Nats,
    id: &WorkerId,
    args: Vec<String>,
    env: Vec<(String, String)>,
) -> Result<WorkerRecord, AdminError> {
    let latest = nats
        .components()
        .latest(&id.component)
        .await?
        .ok_or_else(|| AdminError::UnknownComponent(id.component.clone()))?;
    let now = now_ms();
    let batch = OplogBatch {
        first: 1,
        entries: vec![OplogEntry::Create {
            at: now,
            component_version: latest.version,
            args: args.clone(),
            env: env.clone(),
        }],
    };
    match nats.oplog().append(id, 0, &batch).await {
        Ok(_) => {}
        Err(AppendError::Fenced { .. }) => return Err(AdminError::AlreadyExists(id.clone())),
        Err(AppendError::Other(e)) => return Err(AdminError::Nats(e)),
        Err(e @ AppendError::TooLarge { .. }) => {
            return Err(AdminError::Nats(revenant_nats::Error::Malformed {
                what: format!("worker {id}"),
                reason: e.to_string(),
            }));
        }
    }
    let record = WorkerRecord {
        id: id.clone(),
        status: WorkerStatus::Suspended,
        component_version: latest.version,
        args,
        env,
        created_at: now,
        updated_at: now,
        last_error: None,
        oplog_index: 1,
        pending_invocations: 0,
    };
    nats.workers().put(&record).await?;
    Ok(record)
}

/// Deletes a worker's oplog and record; [`AdminError::UnknownWorker`] when it has neither.
pub async fn delete_worker(nats: &Nats, id: &WorkerId) -> Result<(), AdminError> {
    let known = nats.workers().get(id).await?.is_some() || nats.oplog().last_seq(id).await? > 0;
    if !known {
        return Err(AdminError::UnknownWorker(id.clone()));
    }
    nats.oplog().delete(id).await?;
    nats.workers().delete(id).await?;
    Ok(())
}

/// The structure of a WIT type, as far as JSON arguments care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "of")]
pub enum WitShape {
    Bool,
    /// Any of `s8`…`u64`.
    Integer,
    /// `f32` / `f64`.
    Float,
    Char,
    String,
    /// Fields with their kebab-case names.
    Record(Vec<(String, WitShape)>),
    Option(Box<WitShape>),
    List(Box<WitShape>),
    /// Anything else (variant, enum, flags, result, tuple, …), as WIT text.
    Other(String),
}

impl WitShape {
    /// Short WIT-like text, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Bool => "bool".into(),
            Self::Integer => "an integer".into(),
            Self::Float => "a float".into(),
            Self::Char => "char".into(),
            Self::String => "string".into(),
            Self::Record(fields) => format!(
                "record {{{}}}",
                fields
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Option(t) => format!("option<{}>", t.describe()),
            Self::List(t) => format!("list<{}>", t.describe()),
            Self::Other(t) => t.clone(),
        }
    }
}

/// The parameters (name, shape) of export `full_name` (as in the component's
/// `ExportedFunction::name`) of a component binary that was validated at upload.
pub fn param_shapes(bytes: &[u8], full_name: &str) -> Result<Vec<(String, WitShape)>, AdminError> {
    let (resolve, world) = match wit_component::decode(bytes) {
        Ok(wit_component::DecodedWasm::Component(r, w)) => (r, w),
        Ok(_) => return Err(AdminError::Decode("not a component".into())),
        Err(e) => return Err(AdminError::Decode(format!("{e:#}"))),
    };
    for (key, item) in &resolve.worlds[world].exports {
        let found = match item {
            WorldItem::Function(f) if f.name == full_name => Some(f),
            WorldItem::Interface { id, .. } => {
                let iface = resolve.name_world_key(key);
                resolve.interfaces[*id]
                    .functions
                    .values()
                    .find(|f| format!("{iface}.{{{}}}", f.name) == full_name)
            }
            _ => None,
        };
        if let Some(f) = found {
            return Ok(f
                .params
                .iter()
                .map(|p| (p.name.clone(), shape(&resolve, &p.ty)))
                .collect());
        }
    }
    Err(AdminError::UnknownFunction {
        component: "this component".into(),
        function: full_name.to_owned(),
    })
}

fn shape(resolve: &Resolve, ty: &Type) -> WitShape {
    match ty {
        Type::Bool => WitShape::Bool,
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => WitShape::Integer,
        Type::S8 | Type::S16 | Type::S32 | Type::S64 => WitShape::Integer,
        Type::F32 | Type::F64 => WitShape::Float,
        Type::Char => WitShape::Char,
        Type::String => WitShape::String,
        Type::ErrorContext => WitShape::Other("error-context".into()),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            match &def.kind {
                TypeDefKind::Type(t) => shape(resolve, t),
                TypeDefKind::Record(r) => WitShape::Record(
                    r.fields
                        .iter()
                        .map(|f| (f.name.clone(), shape(resolve, &f.ty)))
                        .collect(),
                ),
                TypeDefKind::Option(t) => WitShape::Option(Box::new(shape(resolve, t))),
                TypeDefKind::List(t) => WitShape::List(Box::new(shape(resolve, t))),
                kind => {
                    WitShape::Other(def.name.clone().unwrap_or_else(|| kind.as_str().to_owned()))
                }
            }
        }
    }
}
