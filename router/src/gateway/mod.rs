//! User-defined API routes (the "worker gateway"): definitions that map an
//! HTTP request onto a worker function, stored in `RVN_APIS` so every router
//! serves the same routes. Deploying validates each route against the
//! component's exported signature and the parameter shapes recorded at upload
//! (the binary is never downloaded) and stores the compiled form; every router
//! keeps a [`RouteTable`] current through a watch on the bucket.
//!
//! Layout: [`definition`] (format, validation, matching), [`template`] (value
//! references), [`serve`] (the fallback handler that serves matching requests).

pub mod definition;
pub mod serve;
pub mod template;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use revenant_components::resolve_function;
use revenant_nats::Nats;
use revenant_nats::http_support::ApiChange;
use revenant_types::ComponentName;
use revenant_types::ErrorKind;

use crate::error::{ApiError, Error};
use crate::{AppState, Result};
use definition::{ApiDefinition, ApiFile, CompiledRoute, StoredApi, pattern_key};

pub use serve::serve_route;

/// The deployed APIs this router serves, by name.
#[derive(Clone, Default)]
pub struct RouteTable {
    apis: Arc<RwLock<BTreeMap<String, StoredApi>>>,
}

impl RouteTable {
    pub fn set(&self, api: StoredApi) {
        self.write().insert(api.name.clone(), api);
    }
    pub fn remove(&self, name: &str) {
        self.write().remove(name);
    }
    pub fn get(&self, name: &str) -> Option<StoredApi> {
        self.read().get(name).cloned()
    }
    pub fn apis(&self) -> Vec<StoredApi> {
        self.read().values().cloned().collect()
    }
    /// Every route with its API's name.
    pub fn all(&self) -> Vec<(String, CompiledRoute)> {
        self.read()
            .values()
            .flat_map(|a| a.routes.iter().map(|r| (a.name.clone(), r.clone())))
            .collect()
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, StoredApi>> {
        self.apis.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, StoredApi>> {
        self.apis.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn decode(name: &str, json: &[u8]) -> Option<StoredApi> {
    match serde_json::from_slice::<StoredApi>(json) {
        Ok(api) => Some(api),
        Err(e) => {
            tracing::warn!(api = name, error = %e, "ignoring an undecodable API definition");
            None
        }
    }
}

/// Loads every stored API into `table`, then follows changes until aborted.
pub async fn watch(nats: Nats, table: RouteTable) -> Result<tokio::task::JoinHandle<()>> {
    for (name, json) in nats.apis().list().await? {
        if let Some(api) = decode(&name, &json) {
            table.set(api);
        }
    }
    let mut changes = Box::pin(nats.apis().watch().await?);
    Ok(tokio::spawn(async move {
        while let Some(change) = changes.next().await {
            match change {
                ApiChange::Put(name, json) => {
                    if let Some(api) = decode(&name, &json) {
                        table.set(api);
                    }
                }
                ApiChange::Deleted(name) => table.remove(&name),
            }
        }
    }))
}

fn invalid(api: &str, i: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        ErrorKind::InvalidApi,
        format!("API {api}, route {}: {message}", i + 1),
    )
}

/// Validates, compiles, stores and serves `def` (replacing an API of the same name).
pub async fn deploy(state: &AppState, def: ApiDefinition) -> Result<StoredApi, ApiError> {
    revenant_types::names::validate("API name", &def.name)
        .map_err(|e| ApiError::bad_request(ErrorKind::InvalidApi, e.to_string()))?;
    if def.routes.is_empty() {
        return Err(ApiError::bad_request(
            ErrorKind::InvalidApi,
            format!("API {} has no routes", def.name),
        ));
    }
    let nats = state.nats();
    let mut routes: Vec<CompiledRoute> = Vec::new();
    for (i, route) in def.routes.into_iter().enumerate() {
        let c = ComponentName::new(&route.component).map_err(|e| invalid(&def.name, i, e))?;
        let record = nats.components().latest(&c).await?.ok_or_else(|| {
            invalid(
                &def.name,
                i,
                format!("component {c} does not exist; upload it first"),
            )
        })?;
        let export = resolve_function(&record.exports, &route.function)
            .map_err(|e| invalid(&def.name, i, e))?
            .clone();
        let params = export.param_shapes().ok_or_else(|| {
            invalid(
                &def.name,
                i,
                format!(
                    "version {} of component {c} was uploaded before Revenant recorded \
                     parameter shapes; upload it again (`revenant component add {c} <file.wasm>`) \
                     and deploy the API again",
                    record.version
                ),
            )
        })?;
        let compiled =
            definition::compile(route, &export, params).map_err(|e| invalid(&def.name, i, e))?;
        let key = pattern_key(&compiled);
        if routes.iter().any(|r| pattern_key(r) == key) {
            return Err(invalid(&def.name, i, format!("{key} is defined twice")));
        }
        routes.push(compiled);
    }
    for (other, route) in state.routes().all() {
        let key = pattern_key(&route);
        if other != def.name && routes.iter().any(|r| pattern_key(r) == key) {
            return Err(ApiError::conflict(
                ErrorKind::RouteConflict,
                format!("{key} is already served by API {other}; delete it or change the path"),
            ));
        }
    }
    let api = StoredApi {
        name: def.name,
        routes,
    };
    let json = serde_json::to_vec(&api).map_err(|e| {
        ApiError::bad_request(
            ErrorKind::InvalidApi,
            format!("could not encode the API: {e}"),
        )
    })?;
    nats.apis().put(&api.name, json).await?;
    state.routes().set(api.clone());
    Ok(api)
}

/// Deletes an API; `false` when there was none.
pub async fn delete(state: &AppState, name: &str) -> Result<bool, ApiError> {
    let existed = state.nats().apis().delete(name).await?;
    state.routes().remove(name);
    Ok(existed)
}

/// Deploys every definition of a YAML / JSON file; returns their names.
pub async fn deploy_file(state: &AppState, path: &Path) -> Result<Vec<String>> {
    let err = |message: String| Error::ApiFile {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let defs = ApiFile::parse(&text).map_err(err)?;
    let mut names = Vec::new();
    for def in defs {
        let api = deploy(state, def).await.map_err(|e| err(e.message))?;
        names.push(api.name);
    }
    Ok(names)
}
