//! Components: upload (validate, extract exports, store binary and metadata
//! through `revenant-nats`) and loading for execution (compiled once per
//! executor, from the on-disk cache when possible, with a ready `InstancePre`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use revenant_nats::Nats;
use revenant_types::ComponentName;
use revenant_types::records::{ComponentRecord, ExportedFunction};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

use crate::durable::{api, clocks, random};
use crate::engine::{self, EngineError};
use crate::exports::{self, ExportsError};
use revenant_types::now_ms;

use crate::store::WorkerCtx;

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error(
        "component {0} does not exist; upload it with `revenant component add {0} <file.wasm>`"
    )]
    Unknown(ComponentName),
    #[error("component {name} has no version {version}")]
    UnknownVersion { name: ComponentName, version: u64 },
    #[error(transparent)]
    Exports(#[from] ExportsError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("component {name} cannot run here: {message}")]
    Link { name: String, message: String },
    #[error("NATS: {0}")]
    Nats(#[from] revenant_nats::Error),
}

/// A component version ready to instantiate.
pub struct LoadedComponent {
    pub record: ComponentRecord,
    pub engine: Engine,
    pub component: Component,
    pub pre: InstancePre<WorkerCtx>,
    funcs: HashMap<String, (ComponentExportIndex, ComponentFunc)>,
}

impl LoadedComponent {
    /// Resolves a requested function (full name, or bare name when unambiguous).
    pub fn resolve(&self, requested: &str) -> Result<&ExportedFunction, ExportsError> {
        exports::resolve_function(&self.record.exports, requested)
    }

    /// The export index of a function by its full name.
    pub fn export_index(&self, full_name: &str) -> Option<ComponentExportIndex> {
        self.funcs.get(full_name).map(|(i, _)| *i)
    }

    /// The type of a function by its full name.
    pub fn func_type(&self, full_name: &str) -> Option<&ComponentFunc> {
        self.funcs.get(full_name).map(|(_, t)| t)
    }
}

/// The linker every worker is instantiated with: WASI p2 and wasi:http from
/// wasmtime-wasi, with the journaled clocks and random shadowing theirs.
pub fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<WorkerCtx>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    linker.allow_shadowing(true);
    clocks::add_to_linker(&mut linker)?;
    random::add_to_linker(&mut linker)?;
    linker.allow_shadowing(false);
    api::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Splits `pkg:ns/iface.{fn}` into (`pkg:ns/iface`, `fn`); `{fn}` into (None, `fn`).
fn split_name(full: &str) -> Option<(Option<&str>, &str)> {
    let inner = full.strip_suffix('}')?;
    match inner.rsplit_once(".{") {
        Some((iface, f)) => Some((Some(iface), f)),
        None => inner.strip_prefix('{').map(|f| (None, f)),
    }
}

fn index_functions(
    component: &Component,
    exports: &[ExportedFunction],
) -> HashMap<String, (ComponentExportIndex, ComponentFunc)> {
    let mut funcs = HashMap::new();
    for f in exports {
        let Some((iface, name)) = split_name(&f.name) else {
            continue;
        };
        let parent = match iface {
            Some(iface) => match component.get_export(None, iface) {
                Some((ComponentItem::ComponentInstance(_), idx)) => Some(idx),
                _ => continue,
            },
            None => None,
        };
        if let Some((ComponentItem::ComponentFunc(ty), idx)) =
            component.get_export(parent.as_ref(), name)
        {
            funcs.insert(f.name.clone(), (idx, ty));
        }
    }
    funcs
}

fn allowed_import(name: &str) -> bool {
    (name.starts_with("wasi:") && name.contains("@0.2.")) || name.starts_with("revenant:api/")
}

/// Validates a binary and returns its metadata for `version` (the caller stores it).
/// Refuses what is not a wasip2 component and components importing what executors don't provide.
pub fn inspect(
    engine: &Engine,
    linker: &Linker<WorkerCtx>,
    name: &ComponentName,
    version: u64,
    bytes: &[u8],
) -> Result<ComponentRecord, ComponentError> {
    exports::check_imports(bytes, allowed_import)?;
    let component =
        Component::new(engine, bytes).map_err(|e| EngineError::Compile(format!("{e:#}")))?;
    linker
        .instantiate_pre(&component)
        .map_err(|e| ComponentError::Link {
            name: name.to_string(),
            message: format!("{e:#}"),
        })?;
    Ok(ComponentRecord {
        name: name.clone(),
        version,
        hash: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
        exports: exports::exported_functions(bytes)?,
        created_at: now_ms(),
    })
}

/// Uploads a new version of a component: validates it, stores binary and metadata.
pub async fn upload(
    nats: &Nats,
    name: &ComponentName,
    bytes: Vec<u8>,
) -> Result<ComponentRecord, ComponentError> {
    let engine = Engine::new(
        wasmtime::Config::new()
            .wasm_component_model(true)
            .concurrency_support(false),
    )
    .map_err(|e| EngineError::Config(e.to_string()))?;
    let linker = build_linker(&engine).map_err(|e| EngineError::Config(e.to_string()))?;
    // Validate before reserving a version number: a refused binary leaves no trace.
    inspect(&engine, &linker, name, 0, &bytes)?;
    let record = nats
        .components()
        .publish(name, &bytes, |version| {
            inspect(&engine, &linker, name, version, &bytes).map_err(|e| e.to_string())
        })
        .await?;
    Ok(record)
}

/// Loaded components of one executor, by (name, version).
pub struct ComponentCache {
    engine: Engine,
    linker: Linker<WorkerCtx>,
    nats: Nats,
    cache_dir: PathBuf,
    loaded: Mutex<HashMap<(ComponentName, u64), Arc<LoadedComponent>>>,
}

impl ComponentCache {
    pub fn new(engine: Engine, nats: Nats, cache_dir: PathBuf) -> Result<Self, ComponentError> {
        let linker = build_linker(&engine).map_err(|e| EngineError::Config(e.to_string()))?;
        Ok(Self {
            engine,
            linker,
            nats,
            cache_dir,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The latest version of a component.
    pub async fn latest(
        &self,
        name: &ComponentName,
    ) -> Result<Arc<LoadedComponent>, ComponentError> {
        let record = self
            .nats
            .components()
            .latest(name)
            .await?
            .ok_or_else(|| ComponentError::Unknown(name.clone()))?;
        self.get(name, record.version).await
    }

    /// A given version of a component.
    pub async fn get(
        &self,
        name: &ComponentName,
        version: u64,
    ) -> Result<Arc<LoadedComponent>, ComponentError> {
        let key = (name.clone(), version);
        if let Some(c) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let record = self
            .nats
            .components()
            .record(name, version)
            .await?
            .ok_or_else(|| ComponentError::UnknownVersion {
                name: name.clone(),
                version,
            })?;
        let bytes = self.nats.components().binary(name, version).await?;
        let engine = self.engine.clone();
        let cache_dir = self.cache_dir.clone();
        let hash = record.hash.clone();
        let component = tokio::task::spawn_blocking(move || {
            engine::load_component(&engine, &cache_dir, &hash, &bytes)
        })
        .await
        .map_err(|e| EngineError::Compile(e.to_string()))??;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| ComponentError::Link {
                name: name.to_string(),
                message: format!("{e:#}"),
            })?;
        let funcs = index_functions(&component, &record.exports);
        let loaded = Arc::new(LoadedComponent {
            record,
            engine: self.engine.clone(),
            component,
            pre,
            funcs,
        });
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, loaded.clone());
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::split_name;

    #[test]
    fn splits_full_names() {
        assert_eq!(
            split_name("example:counter/api.{add}"),
            Some((Some("example:counter/api"), "add"))
        );
        assert_eq!(
            split_name("example:counter/api@1.0.0.{add}"),
            Some((Some("example:counter/api@1.0.0"), "add"))
        );
        assert_eq!(split_name("{run}"), Some((None, "run")));
        assert_eq!(split_name("add"), None);
    }
}
