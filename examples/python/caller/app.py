"""`py-caller` — worker-to-worker calls from Python to the Rust `counter`: a typed
call through the client `revenant component client-wit counter` wrote
(`wit/deps/counter-client.wit`, imported by the world), and an untyped one through
`revenant.call` (JSON). Each call runs once on the callee however often this worker
is replayed or its executor dies.

Deploy and call (the `counter` component must be deployed too):

    revenant component add py-caller caller.wasm
    revenant invoke py-caller/p1 add-to '"c1"' 5     # => ok(5): counter/c1 is now 5
    revenant invoke py-caller/p1 total-of '"c1"'     # => ok(5)
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import api as counter

import revenant


class Api(exports.Api):
    def add_to(self, worker: str, value: int) -> int:
        try:
            return counter.Api(worker).add(value)
        except Err as e:
            raise Err(f"counter/{worker} add: {e.value}")

    def total_of(self, worker: str) -> int:
        try:
            return revenant.call("counter", worker, "get")
        except revenant.RpcError as e:
            raise Err(str(e))
