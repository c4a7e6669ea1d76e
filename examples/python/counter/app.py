"""`py-counter` — the Python twin of the Rust `counter` example: a total in memory,
a journaled random increment, and a journaled outgoing HTTP call.

Build (the project's scripts do it for `cargo test` and `revenant up`):

    componentize-py -d <wit with deps> -w counter componentize app -p . -p ../../../sdk/python -o counter.wasm

Deploy and call:

    revenant component add py-counter counter.wasm
    revenant invoke py-counter/c1 add 5           # => 5
    revenant invoke py-counter/c1 add-random      # => 5 + a random u64; replays return the same
    revenant invoke py-counter/c1 fetch '"http://127.0.0.1:8080/"'   # => ok("200 <body>")
    revenant invoke py-counter/c1 fail '"boom"'   # => error: ValueError: boom, with the traceback
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import random

from revenant import http, log

MASK = (1 << 64) - 1
total = 0


def add_to_total(value: int) -> int:
    global total
    total = (total + value) & MASK
    return total


class Api(exports.Api):
    def add(self, value: int) -> int:
        return add_to_total(value)

    def add_random(self) -> int:
        t = add_to_total(random.get_random_u64())
        print(f"total: {t}")
        log.info("counter", f"added a random number; total {t}")
        return t

    def get(self) -> int:
        return total

    def fetch(self, url: str) -> str:
        try:
            r = http.get(url)
        except http.HttpError as e:
            raise Err(str(e))
        return f"{r.status} {r.text()}"

    def fail(self, message: str) -> int:
        return check(message)


def check(message: str) -> int:
    raise ValueError(message)
