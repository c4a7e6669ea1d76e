"""`py-approval` — waiting for a person, in Python: `request` creates a durable
promise, prints its id, and waits (suspended after the executor's `suspend-after`,
costing no memory) until someone completes it; then returns `<item>: <payload>`.

Deploy and call:

    revenant component add py-approval approval.wasm
    revenant invoke py-approval/a1 request '"laptop"' --enqueue    # prints nothing yet
    revenant promise list py-approval                             # py-approval/a1/<n> pending
    revenant promise complete py-approval/a1/<n> '"approved"'      # the request returns
                                                                  # "laptop: \"approved\""
"""

from wit_world import exports

import revenant


class Api(exports.Api):
    def request(self, item: str) -> str:
        promise = revenant.Promise()
        print(f"approval needed: {promise.id}")
        payload = promise.wait()
        return f"{item}: {payload.decode('utf-8', 'replace')}"
