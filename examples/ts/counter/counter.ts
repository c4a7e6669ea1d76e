/**
 * `ts-counter` — the TypeScript twin of the Rust `counter` example: a total in memory,
 * a journaled random increment and a journaled outgoing HTTP call.
 *
 * Build (the project's scripts do it for `cargo test` and `revenant up`):
 *
 *     node sdk/ts/build.mjs --wit <wit with deps> --world counter --entry counter.ts --out counter.wasm
 *
 * Deploy and call:
 *
 *     revenant component add ts-counter counter.wasm
 *     revenant invoke ts-counter/c1 add 5           # => 5
 *     revenant invoke ts-counter/c1 add-random      # => 5 + a random u64; replays return the same
 *     revenant invoke ts-counter/c1 fetch '"http://127.0.0.1:8080/"'   # => ok("200 <body>")
 *     revenant invoke ts-counter/c1 fail '"boom"'   # => error: Error: boom, with the stack
 */

import { getRandomU64 } from "wasi:random/random@0.2.12";
import { httpGet } from "revenant/http";
import { info } from "revenant/log";

const MASK = (1n << 64n) - 1n;
let total = 0n;

function addToTotal(value: bigint): bigint {
  total = (total + value) & MASK;
  return total;
}

function check(message: string): never {
  throw new Error(message);
}

export const api = {
  add(value: bigint): bigint {
    return addToTotal(value);
  },
  addRandom(): bigint {
    const t = addToTotal(getRandomU64());
    console.log(`total: ${t}`);
    info("counter", `added a random number; total ${t}`);
    return t;
  },
  get(): bigint {
    return total;
  },
  fetch(url: string): string {
    const r = httpGet(url);
    return `${r.status} ${r.text()}`;
  },
  fail(message: string): bigint {
    return check(message);
  },
};
