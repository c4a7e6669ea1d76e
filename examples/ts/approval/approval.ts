/**
 * `ts-approval` — waiting for a person, in TypeScript: `request` creates a durable
 * promise, prints its id, and waits (suspended after the executor's `suspend-after`,
 * costing no memory) until someone completes it; then returns `<item>: <payload>`.
 *
 *     revenant component add ts-approval approval.wasm
 *     revenant invoke ts-approval/a1 request '"laptop"' --enqueue
 *     revenant promise list ts-approval                          # ts-approval/a1/<n> pending
 *     revenant promise complete ts-approval/a1/<n> '"approved"'  # => "laptop: \"approved\""
 */

import { DurablePromise } from "revenant";

const fromUtf8 = new TextDecoder();

export const api = {
  request(item: string): string {
    const promise = new DurablePromise();
    console.log(`approval needed: ${promise.id}`);
    return `${item}: ${fromUtf8.decode(promise.wait())}`;
  },
};
