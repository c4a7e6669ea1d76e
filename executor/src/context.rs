//! What every part of an executor shares: the NATS handle, the component cache,
//! the options, the worker directories, the control registry and the metrics.
//! It holds no logic; it exists so that the runtime, the workers, control and
//! shard ownership depend on it instead of on each other.

use std::path::PathBuf;
use std::sync::Arc;

use revenant_nats::Nats;

use crate::components::ComponentCache;
use crate::config::ExecutorOptions;

/// What every worker of an executor shares.
pub struct WorkerEnv {
    pub nats: Nats,
    pub components: Arc<ComponentCache>,
    pub opts: Arc<ExecutorOptions>,
    pub work_dir: PathBuf,
    /// Where control requests reach the shard that holds a worker.
    pub controls: Arc<crate::control::ControlRegistry>,
    pub metrics: Arc<crate::metrics::ExecutorMetrics>,
    /// Empty directories for workers' filesystems, under `work_dir`.
    pub dirs: Arc<crate::dirs::DirPool>,
}
