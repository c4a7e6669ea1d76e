//! The wasmtime engine every worker of an executor shares: component model,
//! async host calls, epoch interruption (a ticker thread advances the epoch
//! every [`EPOCH_TICK`]; each invocation checks its deadline on the tick),
//! optional pooling allocator, and an on-disk cache of compiled components
//! keyed by (content hash, wasmtime version + engine configuration).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::ExecutorOptions;

/// How often the epoch advances: the granularity of deadlines and of yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("could not configure wasmtime: {0}")]
    Config(String),
    #[error("could not compile the component: {0}")]
    Compile(String),
    #[error("compiled-component cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Builds the engine and starts its epoch ticker (which stops when the engine is dropped).
pub fn new_engine(opts: &ExecutorOptions) -> Result<Engine, EngineError> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Concurrent (p3) component calls cost ~1.5 µs per call and no guest needs them yet.
    config.concurrency_support(false);
    if opts.pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(1_000);
        pool.max_memory_size(opts.memory_limit_bytes);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config).map_err(|e| EngineError::Config(e.to_string()))?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("revenant-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| EngineError::Config(format!("could not start the epoch thread: {e}")))?;
    Ok(engine)
}

/// Compiles `bytes` (whose SHA-256 is `hash`), or loads the compiled code from the cache.
pub fn load_component(
    engine: &Engine,
    cache_dir: &Path,
    hash: &str,
    bytes: &[u8],
) -> Result<Component, EngineError> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let path = cache_dir.join(format!("{hash}-{:016x}.cwasm", h.finish()));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (part of the name) into Revenant's own cache directory.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => {
                tracing::info!(hash, "loaded a compiled component from the cache");
                return Ok(c);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component")
            }
        }
    }
    let started = std::time::Instant::now();
    let component =
        Component::new(engine, bytes).map_err(|e| EngineError::Compile(format!("{e:#}")))?;
    tracing::info!(
        hash,
        bytes = bytes.len(),
        ms = started.elapsed().as_millis() as u64,
        "compiled a component"
    );
    let serialized = component
        .serialize()
        .map_err(|e| EngineError::Compile(e.to_string()))?;
    std::fs::create_dir_all(cache_dir).map_err(|source| EngineError::Cache {
        path: cache_dir.into(),
        source,
    })?;
    // Write then rename, so a concurrent reader never sees half a file. The temporary
    // name is unique per call: two workers of one component loading at once in the same
    // process must not share it (the second rename would fail with ENOENT).
    static TMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = TMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{seq}", std::process::id()));
    std::fs::write(&tmp, serialized)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| EngineError::Cache {
            path: path.clone(),
            source,
        })?;
    Ok(component)
}
