//! Durable `wasi:random`: every `get-random-bytes` / `get-random-u64` (secure
//! and insecure) is journaled, so replay hands the guest the same numbers.
//! `insecure-seed` is derived from the worker's id instead (deterministic, no
//! entry needed).

use rand::{Rng, RngCore};
use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use super::HasJournal;
use super::journaled::{
    InsecureRandomBytes, InsecureRandomU64, JournaledCall, RandomBytes, RandomU64,
};

pub const RANDOM: &str = "wasi:random/random@0.2.12";
pub const INSECURE: &str = "wasi:random/insecure@0.2.12";

/// Largest `get-random-bytes` request honoured (as wasmtime-wasi's default).
const MAX_BYTES: u64 = 64 << 20;

fn bytes<F: JournaledCall<Request = u64, Response = Vec<u8>>, T: HasJournal>(
    store: &StoreContextMut<'_, T>,
    len: u64,
) -> wasmtime::Result<Vec<u8>> {
    if len > MAX_BYTES {
        wasmtime::bail!(
            "{}: requested {len} bytes, more than the limit of {MAX_BYTES}",
            F::NAME
        );
    }
    store.data().journal().read::<F>(len, || {
        let mut buf = vec![0u8; len as usize];
        rand::rng().fill_bytes(&mut buf);
        buf
    })
}

fn u64_value<F: JournaledCall<Request = (), Response = u64>, T: HasJournal>(
    store: &StoreContextMut<'_, T>,
) -> wasmtime::Result<u64> {
    store
        .data()
        .journal()
        .read::<F>((), || rand::rng().random())
}

/// Registers the journaled random functions (shadowing wasmtime-wasi's).
pub fn add_to_linker<T: HasJournal>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut random = linker.instance(RANDOM)?;
    random.func_wrap(
        "get-random-bytes",
        |store: StoreContextMut<'_, T>, (len,): (u64,)| {
            Ok((bytes::<RandomBytes, T>(&store, len)?,))
        },
    )?;
    random.func_wrap("get-random-u64", |store: StoreContextMut<'_, T>, (): ()| {
        Ok((u64_value::<RandomU64, T>(&store)?,))
    })?;
    let mut insecure = linker.instance(INSECURE)?;
    insecure.func_wrap(
        "get-insecure-random-bytes",
        |store: StoreContextMut<'_, T>, (len,): (u64,)| {
            Ok((bytes::<InsecureRandomBytes, T>(&store, len)?,))
        },
    )?;
    insecure.func_wrap(
        "get-insecure-random-u64",
        |store: StoreContextMut<'_, T>, (): ()| Ok((u64_value::<InsecureRandomU64, T>(&store)?,)),
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
