//! `/v1/…/workers…`: create (args, env), list with filters and cursor paging,
//! get, delete, read the oplog with paging, interrupt / resume.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::time::Duration;

use revenant_types::ErrorKind;
use revenant_types::records::{ControlAction, WorkerRecord, WorkerStatus};
use revenant_types::{ComponentName, WorkerId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;

/// Filters and paging of a worker listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only workers of this component.
    pub component: Option<String>,
    /// Only workers with this status: idle, running, suspended, failed, exited, interrupted.
    pub status: Option<String>,
    /// Start after this worker (`<component>/<worker>`, the previous page's `next-cursor`).
    pub cursor: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// Body of a worker creation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CreateWorker {
    /// The worker's name ([A-Za-z0-9_-]{1,128}).
    pub name: String,
    /// Arguments, fixed for life.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables, fixed for life.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// Oplog paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OplogQuery {
    /// First index (default 1).
    pub from: Option<u64>,
    /// How many entries at most (default 100, at most 1000).
    pub count: Option<usize>,
}

pub(crate) fn worker_id(component: &str, worker: &str) -> Result<WorkerId, ApiError> {
    Ok(WorkerId::parse(component, worker)?)
}

/// Applies the filters and the cursor to `all` (sorted by id); returns the page and the next cursor.
pub fn page(
    mut all: Vec<WorkerRecord>,
    status: Option<WorkerStatus>,
    cursor: Option<&str>,
    limit: usize,
) -> (Vec<WorkerRecord>, Option<String>) {
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let mut page: Vec<WorkerRecord> = all
        .into_iter()
        .filter(|r| status.is_none_or(|s| r.status == s))
        .filter(|r| cursor.is_none_or(|c| r.id.to_string().as_str() > c))
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit).then(|| {
        page.truncate(limit);
        page.last().map(|r| r.id.to_string()).unwrap_or_default()
    });
    (page, next)
}

async fn listing(state: &AppState, q: ListQuery) -> Result<Response, ApiError> {
    let component = q.component.as_deref().map(ComponentName::new).transpose()?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<WorkerStatus>)
        .transpose()
        .map_err(|m| ApiError::bad_request(ErrorKind::InvalidStatus, m))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let all = state.nats().workers().list(component.as_ref()).await?;
    let (workers, next) = page(all, status, q.cursor.as_deref(), limit);
    Ok(Json(json!({ "workers": workers, "next-cursor": next })).into_response())
}

/// Every worker, filtered and paged.
#[utoipa::path(get, path = "/v1/workers", tag = "workers", params(ListQuery),
    responses((status = 200, description = "`{workers, next-cursor}`")))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    listing(&state, q).await
}

/// The workers of one component, filtered and paged.
#[utoipa::path(get, path = "/v1/components/{component}/workers", tag = "workers",
    params(("component" = String, Path), ListQuery),
    responses((status = 200, description = "`{workers, next-cursor}`")))]
pub async fn list_of_component(
    State(state): State<AppState>,
    Path(component): Path<String>,
    Query(mut q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    q.component = Some(component);
    listing(&state, q).await
}

/// Creates a worker explicitly (invoking a worker that does not exist creates it too).
#[utoipa::path(post, path = "/v1/components/{component}/workers", tag = "workers",
    params(("component" = String, Path)), request_body = CreateWorker,
    responses((status = 201, description = "The worker record"),
        (status = 404, description = "No such component", body = super::ErrorJson),
        (status = 409, description = "The worker exists already", body = super::ErrorJson)))]
pub async fn create(
    State(state): State<AppState>,
    Path(component): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: CreateWorker = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            ErrorKind::InvalidJson,
            format!("expected {{\"name\": …, \"args\": [...], \"env\": {{…}}}}: {e}"),
        )
    })?;
    let id = worker_id(&component, &req.name)?;
    let env = req.env.into_iter().collect();
    let record = revenant_nats::workers::create_worker(state.nats(), &id, req.args, env).await?;
    let location = format!("/v1/components/{}/workers/{}", id.component, id.worker);
    Ok((
        StatusCode::CREATED,
        [(http::header::LOCATION, location)],
        Json(record),
    )
        .into_response())
}

/// A worker's record: status, component version, last error, oplog index.
#[utoipa::path(get, path = "/v1/components/{component}/workers/{worker}", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 200, description = "The worker record"),
        (status = 404, description = "No such worker", body = super::ErrorJson)))]
pub async fn get(
    State(state): State<AppState>,
    Path((component, worker)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = worker_id(&component, &worker)?;
    let record = state.nats().workers().get(&id).await?.ok_or_else(|| {
        ApiError::not_found(
            ErrorKind::UnknownWorker,
            format!("worker {id} does not exist"),
        )
    })?;
    Ok(Json(record).into_response())
}

/// Deletes a worker through the executor holding it: a running invocation is stopped,
/// its oplog is purged (but for a tombstone) and its record removed; invocations sent to
/// it before are answered `worker-deleted` (410), never run. The next one starts anew.
#[utoipa::path(delete, path = "/v1/components/{component}/workers/{worker}", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such worker", body = super::ErrorJson),
        (status = 503, description = "No executor holds the worker's shard right now; retry", body = super::ErrorJson)))]
pub async fn delete(
    State(state): State<AppState>,
    Path((component, worker)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = worker_id(&component, &worker)?;
    let timeout = Duration::from_millis(state.options().control_timeout_ms);
    revenant_nats::workers::delete_worker(state.nats(), &id, timeout).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A worker's state after an interrupt or resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct ControlState {
    /// `<component>.<worker>`.
    pub worker: String,
    /// idle, running, suspended or interrupted.
    pub status: String,
    /// Whether invocations are held until a resume.
    pub interrupted: bool,
    /// After `simulate-crash`: how long recovering the worker took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered_ms: Option<f64>,
}

/// Sends a control request to the executor holding the worker's shard.
async fn control(
    state: &AppState,
    component: &str,
    worker: &str,
    action: ControlAction,
) -> Result<Response, ApiError> {
    let id = worker_id(component, worker)?;
    let versions = state.nats().components().versions(&id.component).await?;
    if versions.versions.is_empty() {
        return Err(ApiError::not_found(
            ErrorKind::UnknownComponent,
            format!("component {} does not exist", id.component),
        ));
    }
    let timeout = Duration::from_millis(state.options().control_timeout_ms);
    match state.nats().control(&id, action, timeout).await {
        Ok(s) => Ok(Json(ControlState {
            worker: s.worker,
            status: s.status.as_str().to_owned(),
            interrupted: s.interrupted,
            recovered_ms: s.recovered_ms,
        })
        .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Interrupts a worker: a running invocation is stopped at once (unanswered; it runs
/// again from its start on resume) and later invocations wait, in order, until resumed.
/// Interrupting an interrupted worker changes nothing. The state survives executor restarts.
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/interrupt", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 200, description = "The worker's state", body = ControlState),
        (status = 404, description = "No such component or worker", body = super::ErrorJson),
        (status = 409, description = "The worker is failed", body = super::ErrorJson),
        (status = 503, description = "No executor holds the worker's shard right now; retry", body = super::ErrorJson)))]
pub async fn interrupt(
    State(state): State<AppState>,
    Path((c, w)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    control(&state, &c, &w, ControlAction::Interrupt).await
}

/// Simulates a crash of the worker, for drills: the executor holding it drops its
/// instance and everything it holds of it, as a killed executor would, and recovers it
/// at once from its oplog by replay. A running invocation is cut short and runs on from
/// its journal, unanswered until it completes. The answer says how long recovery took.
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/simulate-crash", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 200, description = "The worker's state after recovery, with `recovered_ms`", body = ControlState),
        (status = 404, description = "No such component or worker", body = super::ErrorJson),
        (status = 409, description = "The worker is failed", body = super::ErrorJson),
        (status = 503, description = "No executor holds the worker's shard right now; retry", body = super::ErrorJson)))]
pub async fn simulate_crash(
    State(state): State<AppState>,
    Path((c, w)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    control(&state, &c, &w, ControlAction::SimulateCrash).await
}

/// Resumes an interrupted worker: its instance is rebuilt by replay and the held
/// invocations run in order, the interrupted one first. Resuming a worker that is not
/// interrupted changes nothing.
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/resume", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 200, description = "The worker's state", body = ControlState),
        (status = 404, description = "No such component or worker", body = super::ErrorJson),
        (status = 409, description = "The worker is failed", body = super::ErrorJson),
        (status = 503, description = "No executor holds the worker's shard right now; retry", body = super::ErrorJson)))]
pub async fn resume(
    State(state): State<AppState>,
    Path((c, w)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    control(&state, &c, &w, ControlAction::Resume).await
}

/// Takes a snapshot of the worker now (between invocations; its component must export
/// `revenant:api/snapshot`): the guest's `save` is stored in `RVN_SNAPSHOTS`, a
/// `Snapshot` entry is appended and the oplog is trimmed as after any snapshot.
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/snapshot", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    responses((status = 200, description = "The worker's state; the snapshot is its last `snapshot` oplog entry", body = ControlState),
        (status = 404, description = "No such component or worker", body = super::ErrorJson),
        (status = 409, description = "The worker is failed", body = super::ErrorJson),
        (status = 502, description = "No snapshot was taken (running an invocation, suspended, interrupted, no `revenant:api/snapshot` export); the message says why", body = super::ErrorJson),
        (status = 503, description = "No executor holds the worker's shard right now; retry", body = super::ErrorJson)))]
pub async fn snapshot(
    State(state): State<AppState>,
    Path((c, w)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    control(&state, &c, &w, ControlAction::Snapshot).await
}

/// The body of an update request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateBody {
    /// The component version to move to.
    pub to: u64,
    /// `auto` (default: replay the history on the new version) or `snapshot` (save on
    /// the old version, load on the new one).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub mode: revenant_types::snapshot::UpdateMode,
}

/// Moves the worker to another version of its component, between invocations: wholly,
/// or not at all (`update-failed`: it keeps running its version; the message says why).
#[utoipa::path(post, path = "/v1/components/{component}/workers/{worker}/update", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path)),
    request_body = UpdateBody,
    responses((status = 200, description = "The worker's state, on the new version", body = ControlState),
        (status = 404, description = "No such component, version or worker", body = super::ErrorJson),
        (status = 409, description = "The update failed (`update-failed`) or the worker is failed", body = super::ErrorJson),
        (status = 502, description = "Not between invocations right now; retry", body = super::ErrorJson),
        (status = 503, description = "No executor holds the worker's shard right now; retry", body = super::ErrorJson)))]
pub async fn update(
    State(state): State<AppState>,
    Path((c, w)): Path<(String, String)>,
    Json(body): Json<UpdateBody>,
) -> Result<Response, ApiError> {
    let action = ControlAction::Update {
        to: body.to,
        mode: body.mode,
    };
    control(&state, &c, &w, action).await
}

/// A page of the worker's oplog, each entry as `{index, kind, summary, entry}`.
#[utoipa::path(get, path = "/v1/components/{component}/workers/{worker}/oplog", tag = "workers",
    params(("component" = String, Path), ("worker" = String, Path), OplogQuery),
    responses((status = 200, description = "`{entries, next}`: `next` is the `from` of the next page, or null"),
        (status = 404, description = "No such worker", body = super::ErrorJson)))]
pub async fn oplog(
    State(state): State<AppState>,
    Path((component, worker)): Path<(String, String)>,
    Query(q): Query<OplogQuery>,
) -> Result<Response, ApiError> {
    let id = worker_id(&component, &worker)?;
    let from = q.from.unwrap_or(1).max(1);
    let count = q.count.unwrap_or(100).clamp(1, 1000);
    let read = state.nats().oplog().read(&id, from).await?;
    if read.next_index <= 1 {
        return Err(ApiError::not_found(
            ErrorKind::UnknownWorker,
            format!("worker {id} has no oplog (it does not exist)"),
        ));
    }
    let entries: Vec<_> = read
        .entries
        .iter()
        .take(count)
        .map(|(index, entry)| {
            json!({ "index": index, "kind": entry.kind(), "summary": entry.summary(), "entry": revenant_types::json::oplog_entry(entry) })
        })
        .collect();
    let next = (read.entries.len() > count).then(|| from + count as u64);
    Ok(Json(json!({ "entries": entries, "next": next })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, status: WorkerStatus) -> WorkerRecord {
        WorkerRecord {
            id: WorkerId::parse("c", name).unwrap(),
            status,
            component_version: 1,
            args: vec![],
            env: vec![],
            created_at: 0,
            updated_at: 0,
            last_error: None,
            oplog_index: 1,
            pending_invocations: 0,
            waiting: Vec::new(),
        }
    }

    #[test]
    fn pages_with_filters_and_cursor() {
        let all = vec![
            rec("b", WorkerStatus::Idle),
            rec("a", WorkerStatus::Idle),
            rec("c", WorkerStatus::Failed),
            rec("d", WorkerStatus::Idle),
        ];
        let (p, next) = page(all.clone(), Some(WorkerStatus::Idle), None, 2);
        let names: Vec<_> = p.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(names, ["c/a", "c/b"]);
        assert_eq!(next.as_deref(), Some("c/b"));
        let (p, next) = page(all, Some(WorkerStatus::Idle), Some("c/b"), 2);
        assert_eq!(p.len(), 1);
        assert_eq!(next, None);
    }
}
