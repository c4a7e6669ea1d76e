/**
 * Revenant's TypeScript guest SDK: idiomatic wrappers over the `revenant:api` WIT
 * package for components built with componentize-js (`sdk/ts/build.mjs` bundles
 * with esbuild, which maps `import ... from "revenant"` to this file).
 *
 * It owns nothing but the guest's view of the host API (the executor implements
 * it). Your world must `include revenant:api/guest@0.2.0;` (and import
 * `wasi:clocks/monotonic-clock@0.2.12` for `sleep`, `wasi:http/outgoing-handler`
 * for `fetch`). Every call here is durable: a replay returns what the first run
 * got (the executor journals it), so code may branch on the results.
 *
 * Layout: `selfId`, `oplogIndex`, `idempotencyKey`, `commit`, `atomically`
 * (durability); `Promise_`/`createPromise`, `completePromise` (promises); `sleep`;
 * `call`, `send`, `callAsync`, `schedule`, `cancelSchedule`, `RpcError` (untyped
 * worker-to-worker calls; typed clients are imports of your world).
 */

import * as durability from "revenant:api/durability@0.2.0";
import * as promises from "revenant:api/promises@0.2.0";
import * as rpc from "revenant:api/rpc@0.2.0";
import { subscribeDuration } from "wasi:clocks/monotonic-clock@0.2.12";

/** A worker: the component it runs and its own name. */
export interface WorkerId {
  component: string;
  worker: string;
}

/** This worker's identity (constant for its lifetime). */
export function selfId(): WorkerId {
  const [component, worker] = durability.selfId();
  return { component, worker };
}

/** The index of the last entry of this worker's oplog (replays see the same values). */
export function oplogIndex(): bigint {
  return durability.oplogIndex();
}

/** A fresh idempotency key (UUID text) for an external call; the n-th key of a
 * worker's history is the same on every replay. */
export function idempotencyKey(): string {
  return durability.generateIdempotencyKey();
}

/** Blocks until everything journaled so far is stored by JetStream. */
export function commit(): void {
  durability.commit();
}

/** Runs `fn` and commits what it journaled before returning its value. `revenant:api@0.2.0`
 * has no atomic regions yet: a crash inside `fn` replays what was journaled and re-runs the
 * rest, so external calls in it should carry an `idempotencyKey()`. */
export function atomically<T>(fn: () => T): T {
  const value = fn();
  commit();
  return value;
}

/** The message of an error a WIT `result` binding threw (componentize-js puts the
 * error value in `payload`). */
function payloadOf(e: unknown): unknown {
  return e && typeof e === "object" && "payload" in e ? (e as { payload: unknown }).payload : e;
}

function unwrap<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new Error(String(payloadOf(e)));
  }
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** A promise of this worker: a value someone else supplies later. Hand out `id`;
 * `wait()` suspends the worker meanwhile (no memory held) and resumes it by replay. */
export class DurablePromise {
  readonly id: string;

  constructor(id?: string) {
    this.id = id ?? promises.create();
  }

  /** Waits until completed; returns the payload. */
  wait(): Uint8Array {
    return unwrap(() => promises.await(this.id));
  }

  /** Waits until completed; returns the payload decoded as UTF-8 JSON. */
  waitJson<T = unknown>(): T {
    return JSON.parse(fromUtf8.decode(this.wait())) as T;
  }

  /** The payload if completed by now, else `undefined`, without waiting. */
  poll(): Uint8Array | undefined {
    return unwrap(() => promises.poll(this.id));
  }
}

/** Completes any worker's promise: `true` when this call completed it, `false` when it
 * was completed already. Strings are sent as UTF-8, other non-bytes as JSON. */
export function completePromise(id: string, payload: Uint8Array | string | unknown): boolean {
  const bytes =
    payload instanceof Uint8Array
      ? payload
      : utf8.encode(typeof payload === "string" ? payload : JSON.stringify(payload));
  return unwrap(() => promises.complete(id, bytes));
}

/** Sleeps durably: the timer is journaled, survives the executor, and a long sleep
 * suspends the worker until a JetStream schedule wakes it. */
export function sleep(ms: number): void {
  subscribeDuration(BigInt(Math.max(0, Math.round(ms))) * 1_000_000n).block();
}

/** A worker-to-worker call did not return the callee's value. */
export class RpcError extends Error {
  constructor(
    readonly kind: string,
    readonly detail: string,
  ) {
    super(`${kind}: ${detail}`);
    this.name = "RpcError";
  }
}

function viaRpc<T>(component: string, worker: string, f: (target: WorkerId) => T): T {
  try {
    return f({ component, worker });
  } catch (e) {
    const p = payloadOf(e) as { tag?: string; val?: string } | undefined;
    if (p && typeof p === "object" && typeof p.tag === "string") {
      throw new RpcError(p.tag, String(p.val));
    }
    throw e;
  }
}

/** Invokes `fn` of worker `component/worker` with `args` and waits for its result
 * (arguments and result as JSON values). The callee runs it exactly once. */
export function call<T = unknown>(component: string, worker: string, fn: string, ...args: unknown[]): T {
  const out = viaRpc(component, worker, (t) => rpc.invokeAndAwait(t, fn, JSON.stringify(args)));
  return JSON.parse(out) as T;
}

/** Invokes without waiting (fire-and-forget); returns the call's idempotency key. */
export function send(component: string, worker: string, fn: string, ...args: unknown[]): string {
  return viaRpc(component, worker, (t) => rpc.invoke(t, fn, JSON.stringify(args)));
}

/** Invokes and returns at once a future: `subscribe()` for a pollable, `get()` for the outcome. */
export function callAsync(component: string, worker: string, fn: string, ...args: unknown[]) {
  return viaRpc(component, worker, (t) => rpc.invokeAsync(t, fn, JSON.stringify(args)));
}

/** Schedules the invocation for `atEpochMs` (a durable JetStream schedule that fires once);
 * returns its id for `cancelSchedule`. */
export function schedule(atEpochMs: number, component: string, worker: string, fn: string, ...args: unknown[]): string {
  return viaRpc(component, worker, (t) => rpc.schedule(BigInt(atEpochMs), t, fn, JSON.stringify(args)));
}

/** Cancels schedule `id` of `component/worker`: whether it was still pending. */
export function cancelSchedule(component: string, worker: string, id: string): boolean {
  return viaRpc(component, worker, (t) => rpc.cancelSchedule(t, id));
}
