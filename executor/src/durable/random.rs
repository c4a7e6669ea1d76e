//! Durable `wasi:random`: every `get-random-bytes` / `get-random-u64` (secure
//! and insecure) is journaled, so replay hands the guest the same numbers.
//! `insecure-seed` is derived from the worker's id instead (deterministic, no
//! entry needed).

use rand::{Rng, RngCore};
use revenant_types::oplog::HostValue;
use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use super::HasJournal;

pub const RANDOM: &str = "wasi:random/random@0.2.12";
pub const INSECURE: &str = "wasi:random/insecure@0.2.12";

/// Largest `get-random-bytes` request honoured (as wasmtime-wasi's default).
const MAX_BYTES: u64 = 64 << 20;

fn bytes<T: HasJournal>(
    store: &StoreContextMut<'_, T>,
    function: &str,
    len: u64,
) -> wasmtime::Result<Vec<u8>> {
    if len > MAX_BYTES {
        wasmtime::bail!("{function}: requested {len} bytes, more than the limit of {MAX_BYTES}");
    }
    match store
        .data()
        .journal()
        .read_remote(function, HostValue::U64(len), || {
            let mut buf = vec![0u8; len as usize];
            rand::rng().fill_bytes(&mut buf);
            HostValue::Bytes(buf)
        })? {
        HostValue::Bytes(b) => Ok(b),
        other => Err(wasmtime::format_err!(
            "journal holds {other:?} for {function}"
        )),
    }
}

fn u64_value<T: HasJournal>(
    store: &StoreContextMut<'_, T>,
    function: &str,
) -> wasmtime::Result<u64> {
    match store
        .data()
        .journal()
        .read_remote(function, HostValue::Unit, || {
            HostValue::U64(rand::rng().random())
        })? {
        HostValue::U64(v) => Ok(v),
        other => Err(wasmtime::format_err!(
            "journal holds {other:?} for {function}"
        )),
    }
}

/// Registers the journaled random functions (shadowing wasmtime-wasi's).
pub fn add_to_linker<T: HasJournal>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut random = linker.instance(RANDOM)?;
    random.func_wrap(
        "get-random-bytes",
        |store: StoreContextMut<'_, T>, (len,): (u64,)| {
            Ok((bytes(&store, "wasi:random/random.get-random-bytes", len)?,))
        },
    )?;
    random.func_wrap("get-random-u64", |store: StoreContextMut<'_, T>, (): ()| {
        Ok((u64_value(&store, "wasi:random/random.get-random-u64")?,))
    })?;
    let mut insecure = linker.instance(INSECURE)?;
    insecure.func_wrap(
        "get-insecure-random-bytes",
        |store: StoreContextMut<'_, T>, (len,): (u64,)| {
            Ok((bytes(
                &store,
                "wasi:random/insecure.get-insecure-random-bytes",
                len,
            )?,))
        },
    )?;
    insecure.func_wrap(
        "get-insecure-random-u64",
        |store: StoreContextMut<'_, T>, (): ()| {
            Ok((u64_value(
                &store,
                "wasi:random/insecure.get-insecure-random-u64",
            )?,))
        },
    )?;
    Ok(())
}

/// The deterministic `insecure-seed` of a worker.
pub fn insecure_seed(worker_key: &str) -> u128 {
    // FNV-1a over the key, widened: stable across executors and releases.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in worker_key.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}
