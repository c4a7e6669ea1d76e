/**
 * `ts-caller` — worker-to-worker calls from TypeScript to the Rust `counter`: a typed
 * call through the client `revenant component client-wit counter` wrote
 * (`wit/deps/counter-client.wit`, imported by the world), and an untyped one through
 * `call` (JSON). Each call runs once on the callee however often this worker is
 * replayed or its executor dies.
 *
 *     revenant component add ts-caller caller.wasm
 *     revenant invoke ts-caller/t1 add-to '"c1"' 5     # => ok(5): counter/c1 is now 5
 *     revenant invoke ts-caller/t1 total-of '"c1"'     # => ok(5)
 */

import { Api as Counter } from "example:counter-client/api";
import { call, RpcError } from "revenant";

function reason(e: unknown): string {
  if (e instanceof RpcError) return e.message;
  const p = e && typeof e === "object" && "payload" in e ? (e as { payload: { tag: string; val: string } }).payload : e;
  return typeof p === "object" && p !== null ? `${(p as { tag: string }).tag}: ${(p as { val: string }).val}` : String(p);
}

export const api = {
  addTo(worker: string, value: bigint): bigint {
    try {
      return new Counter(worker).add(value);
    } catch (e) {
      throw `counter/${worker} add: ${reason(e)}`;
    }
  },
  totalOf(worker: string): bigint {
    try {
      return BigInt(call<number>("counter", worker, "get"));
    } catch (e) {
      throw reason(e);
    }
  },
};
