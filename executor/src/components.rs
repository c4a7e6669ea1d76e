//! Loading components for execution: compiled once per executor (from the
//! on-disk cache when possible) with a ready `InstancePre`, the linker every
//! worker is instantiated with, and the wasmtime export index and type of each
//! exported function, found by splitting its name with
//! [`revenant_components::split_name`].
//!
//! The cache keeps at most `component-cache-size` loaded versions and drops the
//! least recently used one beyond that ([`Lru`]); a worker running a dropped
//! version keeps it alive, and a later load reads the on-disk compiled cache.
//!
//! Upload is not here: `revenant-nats` stores a binary with the metadata that
//! `revenant-components` reads from it without compiling. So the linker sees a
//! component first when an executor loads it; a binary whose imports pass the
//! upload allow-list but do not link (an imported function with other types
//! than the host's) fails here with [`ComponentError::Link`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use revenant_components::{
    ClientImport, ResolveError, client_import, resolve_function, split_name,
};
use revenant_nats::Nats;
use revenant_types::ComponentName;
use revenant_types::records::{ComponentRecord, ExportedFunction};
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

use crate::durable::{api, clocks, random, rpc_client};
use crate::engine::{self, EngineError};
use crate::exports::lookup;
pub use crate::exports::{lookup_func, lookup_func_type};

use crate::store::WorkerCtx;

mod lru;
pub use lru::Lru;

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error(
        "component {0} does not exist; upload it with `revenant component add {0} <file.wasm>`"
    )]
    Unknown(ComponentName),
    #[error("component {name} has no version {version}")]
    UnknownVersion { name: ComponentName, version: u64 },
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
    pub fn resolve(&self, requested: &str) -> Result<&ExportedFunction, ResolveError> {
        resolve_function(&self.record.exports, requested)
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
    crate::durable::waits::add_to_linker(&mut linker)?;
    linker.allow_shadowing(false);
    api::add_to_linker(&mut linker)?;
    crate::durable::logging::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// The export index and type of every function of `exports` the component has.
fn index_functions(
    component: &Component,
    exports: &[ExportedFunction],
) -> HashMap<String, (ComponentExportIndex, ComponentFunc)> {
    exports
        .iter()
        .filter_map(|f| Some((f.name.clone(), lookup(component, &f.name)?)))
        .collect()
}

/// How many loaded versions a cache keeps unless told otherwise.
const DEFAULT_CAPACITY: usize = 64;

/// Loaded components of one executor, by (name, version).
pub struct ComponentCache {
    engine: Engine,
    linker: Linker<WorkerCtx>,
    nats: Nats,
    cache_dir: PathBuf,
    loaded: Mutex<Lru<(ComponentName, u64), Arc<LoadedComponent>>>,
    /// One load at a time per version: a thousand first invocations of a component
    /// fetch and compile it once, the others wait for that load.
    loading: Mutex<HashMap<(ComponentName, u64), LoadGate>>,
    /// The latest version the registry last named for each durable (not ephemeral)
    /// component: what a worker recovered for an invocation is instantiated with while
    /// its oplog is read ([`ComponentCache::latest_seen`]).
    latest_seen: Mutex<HashMap<ComponentName, u64>>,
}

/// Held while one version is being loaded.
type LoadGate = Arc<tokio::sync::Mutex<()>>;

impl ComponentCache {
    pub fn new(engine: Engine, nats: Nats, cache_dir: PathBuf) -> Result<Self, ComponentError> {
        let linker = build_linker(&engine).map_err(|e| EngineError::Config(e.to_string()))?;
        Ok(Self {
            engine,
            linker,
            nats,
            cache_dir,
            loaded: Mutex::new(Lru::new(DEFAULT_CAPACITY)),
            loading: Mutex::default(),
            latest_seen: Mutex::default(),
        })
    }

    /// Keeps at most `capacity` loaded versions (least recently used dropped first).
    pub fn with_capacity(self, capacity: usize) -> Self {
        Self {
            loaded: Mutex::new(Lru::new(capacity)),
            ..self
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The latest version of a component.
    pub async fn latest(
        &self,
        name: &ComponentName,
    ) -> Result<Arc<LoadedComponent>, ComponentError> {
        let record = self.latest_record(name).await?;
        self.get(name, record.version).await
    }

    async fn latest_record(&self, name: &ComponentName) -> Result<ComponentRecord, ComponentError> {
        self.nats
            .components()
            .latest(name)
            .await?
            .ok_or_else(|| ComponentError::Unknown(name.clone()))
    }

    /// Compiles a version's binary (or reads it from the disk cache).
    async fn compile(
        &self,
        record: &ComponentRecord,
        bytes: Vec<u8>,
    ) -> Result<Component, ComponentError> {
        let (engine, cache_dir, hash) = (
            self.engine.clone(),
            self.cache_dir.clone(),
            record.hash.clone(),
        );
        let component = tokio::task::spawn_blocking(move || {
            engine::load_component(&engine, &cache_dir, &hash, &bytes)
        })
        .await
        .map_err(|e| EngineError::Compile(e.to_string()))??;
        Ok(component)
    }

    /// A given version of a component.
    pub async fn get(
        &self,
        name: &ComponentName,
        version: u64,
    ) -> Result<Arc<LoadedComponent>, ComponentError> {
        let key = (name.clone(), version);
        if let Some(c) = self.cached(&key) {
            return Ok(c);
        }
        let gate = self
            .loading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let loaded = {
            let _one = gate.lock().await;
            match self.cached(&key) {
                Some(c) => Ok(c),
                None => self.load(name, version).await,
            }
        };
        self.loading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        loaded
    }

    /// Notes `record` as the latest version the registry names for its component; an
    /// ephemeral one is forgotten instead (its workers keep no journal a spare could
    /// be built on).
    pub fn saw_latest(&self, record: &ComponentRecord) {
        let mut seen = self.latest_seen.lock().unwrap_or_else(|e| e.into_inner());
        if record.ephemeral {
            seen.remove(&record.name);
        } else if seen.get(&record.name) != Some(&record.version) {
            seen.insert(record.name.clone(), record.version);
        }
    }

    /// The version last noted by [`ComponentCache::saw_latest`], when it is loaded: a
    /// guess (the registry may have a newer one by now), never a fetch.
    pub fn latest_seen(&self, name: &ComponentName) -> Option<Arc<LoadedComponent>> {
        let version = *self
            .latest_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)?;
        self.cached(&(name.clone(), version))
    }

    fn cached(&self, key: &(ComponentName, u64)) -> Option<Arc<LoadedComponent>> {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
    }

    /// Fetches, compiles (or reads from the disk cache) and links a version.
    async fn load(
        &self,
        name: &ComponentName,
        version: u64,
    ) -> Result<Arc<LoadedComponent>, ComponentError> {
        let key = (name.clone(), version);
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
        let component = self.compile(&record, bytes).await?;
        let own = self.client_linker(name, &component, &record).await?;
        let pre = own
            .as_ref()
            .unwrap_or(&self.linker)
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
        let evicted = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, loaded.clone());
        if let Some((name, version)) = evicted {
            tracing::debug!(component = %name, version, "component cache full; dropped the least recently used");
        }
        Ok(loaded)
    }
}

impl ComponentCache {
    /// A linker of the component's own when it imports typed RPC clients: the shared one
    /// plus its clients ([`rpc_client`]), each checked against the callee's current
    /// exports. `None`: the shared linker will do.
    async fn client_linker(
        &self,
        name: &ComponentName,
        component: &Component,
        record: &ComponentRecord,
    ) -> Result<Option<Linker<WorkerCtx>>, ComponentError> {
        let link_error = |message: String| ComponentError::Link {
            name: name.to_string(),
            message,
        };
        let clients: Vec<_> = component
            .component_type()
            .imports(&self.engine)
            .filter_map(|(import, item)| match item.ty {
                ComponentItem::ComponentInstance(instance) => {
                    Some((import.to_owned(), client_import(import)?, instance))
                }
                _ => None,
            })
            .collect();
        if clients.is_empty() {
            return Ok(None);
        }
        let mut linker = self.linker.clone();
        for (import, client, instance) in clients {
            let callee = if client.component == name.as_str() {
                callee_functions(component, &record.exports, &client)
            } else {
                let callee_name = ComponentName::new(&client.component)
                    .map_err(|e| link_error(format!("{import}: {e}")))?;
                let (callee, exports) = self.callee(&callee_name).await.map_err(|e| {
                    link_error(format!(
                        "it imports {import}, a client of component {}, which cannot be loaded: {e}",
                        client.component
                    ))
                })?;
                callee_functions(&callee, &exports, &client)
            };
            let functions = rpc_client::functions(&self.engine, &instance);
            let planned = rpc_client::plan(&import, &client.component, &functions, &callee)
                .map_err(link_error)?;
            rpc_client::define(
                &mut linker,
                &self.engine,
                &import,
                &instance,
                &client.component,
                planned,
            )
            .map_err(|e| link_error(format!("{e:#}")))?;
        }
        Ok(Some(linker))
    }

    /// A callee's latest version, compiled but not linked (its own clients may call
    /// back: linking it here could wait for the component being loaded).
    async fn callee(
        &self,
        name: &ComponentName,
    ) -> Result<(Component, Vec<ExportedFunction>), ComponentError> {
        let record = self.latest_record(name).await?;
        if let Some(loaded) = self.cached(&(name.clone(), record.version)) {
            return Ok((loaded.component.clone(), record.exports));
        }
        let bytes = self.nats.components().binary(name, record.version).await?;
        let component = self.compile(&record, bytes).await?;
        Ok((component, record.exports))
    }
}

/// The functions `component` exports in the interface `client` calls, by function name.
fn callee_functions(
    component: &Component,
    exports: &[ExportedFunction],
    client: &ClientImport,
) -> rpc_client::CalleeFunctions {
    exports
        .iter()
        .filter_map(|f| {
            let (iface, func) = split_name(&f.name);
            client.calls(iface?).then_some(())?;
            let (_, ty) = lookup(component, &f.name)?;
            Some((func.to_owned(), (f.name.clone(), ty)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::test_support::guest_component;

    #[test]
    fn functions_are_found_by_full_braced_and_world_level_names() {
        let component = guest_component();
        assert!(lookup_func(component, "example:types/api@0.1.0.{add}").is_some());
        assert!(lookup_func(component, "hello").is_some());
        assert!(lookup_func(component, "{hello}").is_some());
        let ty = lookup_func_type(component, "add").unwrap();
        assert_eq!(ty.params().map(|(n, _)| n).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_missing_function_or_an_instance_is_not_found() {
        let component = guest_component();
        assert!(lookup_func(component, "example:types/api@0.1.0.{missing}").is_none());
        assert!(lookup_func(component, "other:pkg/api.{add}").is_none());
        assert!(
            lookup_func(component, "example:types/api@0.1.0").is_none(),
            "an instance is not a function"
        );
    }

    #[test]
    fn the_linker_refuses_at_load_an_import_that_passed_upload() {
        let bytes = revenant_components::fixtures::component_bytes("unlinkable");
        revenant_components::inspect(&bytes).expect("upload accepts it");
        let engine = Engine::new(wasmtime::Config::new().concurrency_support(false)).unwrap();
        let linker = build_linker(&engine).unwrap();
        let component = Component::new(&engine, &bytes).unwrap();
        let err = linker
            .instantiate_pre(&component)
            .err()
            .expect("does not link");
        assert!(format!("{err:#}").contains("not-in-wasmtime"), "{err:#}");
    }

    #[test]
    fn every_recorded_export_is_indexed_world_level_ones_too() {
        let bytes = revenant_components::fixtures::component_bytes("guest");
        let exports = revenant_components::inspect(&bytes).unwrap().exports;
        let funcs = index_functions(guest_component(), &exports);
        assert_eq!(funcs.len(), exports.len());
        assert!(funcs.contains_key("hello"));
        assert!(funcs.contains_key("example:types/api@0.1.0.{add-item}"));
    }
}
