"""Revenant's Python guest SDK: idiomatic wrappers over the `revenant:api` WIT
package for components built with componentize-py.

It owns nothing but the guest's view of the host API (the executor implements it).
The bindings it wraps are the ones componentize-py generates for *your* world, in
the module `wit_world`; your world must `include revenant:api/guest@0.2.0;` (and
import `wasi:clocks/monotonic-clock@0.2.12` for `sleep`); a wrapper whose interface
the world lacks raises an error that says which line to add.

Every call here is durable: on a replay it returns what it returned the first
time (the executor journals it), so code may branch on the results.

Layout:
- `self_id`, `oplog_index`, `idempotency_key`, `commit`, `atomically` — durability.
- `Promise`, `complete_promise` — promises (a value someone supplies later).
- `sleep` — a durable sleep (a journaled timer; a long one suspends the worker).
- `call`, `send`, `call_async`, `schedule`, `cancel_schedule`, `RpcError` — untyped
  worker-to-worker calls; typed clients are imports of your world (see docs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

__all__ = [
    "WorkerId", "self_id", "oplog_index", "idempotency_key", "commit", "atomically",
    "Promise", "complete_promise", "sleep",
    "RpcError", "call", "send", "call_async", "schedule", "cancel_schedule",
]


def _binding(name: str):
    """The generated binding module `wit_world.imports.<name>`, imported when this SDK is
    (componentize-py snapshots the app after its top-level imports: a binding imported
    later, inside a call, is missing at run time)."""
    try:
        return getattr(__import__("wit_world.imports", fromlist=[name]), name)
    except (ImportError, AttributeError):
        return None


_BINDINGS = {n: _binding(n) for n in ("durability", "promises", "rpc", "monotonic_clock")}


class _Imports:
    def __getattr__(self, name: str):
        b = _BINDINGS.get(name)
        if b is None:
            iface = "wasi:clocks/monotonic-clock@0.2.12" if name == "monotonic_clock" else f"revenant:api/{name}@0.2.0"
            raise RuntimeError(
                f"this component's world does not import {iface}; add `include revenant:api/guest@0.2.0;` "
                "(and `import wasi:clocks/monotonic-clock@0.2.12;` for sleep) to your world and build again"
            )
        return b


def _imports() -> _Imports:
    return _Imports()


def _unwrap(fn: Callable[[], T]) -> T:
    """Calls a binding returning a WIT `result<_, string>`; its `Err` becomes a `RuntimeError`."""
    from componentize_py_types import Err

    try:
        return fn()
    except Err as e:
        raise RuntimeError(str(e.value)) from None


# --- durability -----------------------------------------------------------------


@dataclass(frozen=True)
class WorkerId:
    """A worker: the component it runs and its own name; `str()` is `component/worker`."""

    component: str
    worker: str

    def __str__(self) -> str:
        return f"{self.component}/{self.worker}"


def self_id() -> WorkerId:
    """This worker's identity (constant for its lifetime)."""
    component, worker = _imports().durability.self_id()
    return WorkerId(component, worker)


def oplog_index() -> int:
    """The index of the last entry of this worker's oplog (replays see the same values)."""
    return _imports().durability.oplog_index()


def idempotency_key() -> str:
    """A fresh idempotency key (UUID text) for an external call; the n-th key of a
    worker's history is the same on every replay, so a retried side effect carries it."""
    return _imports().durability.generate_idempotency_key()


def commit() -> None:
    """Blocks until everything journaled so far is stored by JetStream."""
    _imports().durability.commit()


def atomically(fn: Callable[[], T]) -> T:
    """Runs `fn` and commits what it journaled before returning its value, so no
    later side effect leaves the worker unless `fn`'s steps are durable.

    `revenant:api@0.2.0` has no atomic regions yet: a crash inside `fn` replays the
    steps journaled so far and re-runs the rest (host side effects are at least
    once); wrap external calls with an `idempotency_key()`.
    """
    value = fn()
    commit()
    return value


# --- promises -------------------------------------------------------------------


class Promise:
    """A promise of this worker: a value someone else supplies later (a person's
    approval, a webhook, another worker). Hand out `promise.id`; `wait()` suspends
    the worker meanwhile (no memory held) and resumes it by replay."""

    def __init__(self, id: Optional[str] = None) -> None:
        self.id: str = id if id is not None else _imports().promises.create()

    def wait(self) -> bytes:
        """Waits until completed; returns the payload."""
        p = _imports().promises
        return _unwrap(lambda: p.await_(self.id))

    def wait_json(self) -> Any:
        """Waits until completed; returns the payload decoded as JSON."""
        return json.loads(self.wait())

    def poll(self) -> Optional[bytes]:
        """The payload if completed by now, else `None`, without waiting."""
        p = _imports().promises
        return _unwrap(lambda: p.poll(self.id))

    def subscribe(self):
        """A `wasi:io` pollable, ready once completed (to wait together with a timer)."""
        p = _imports().promises
        return _unwrap(lambda: p.subscribe(self.id))

    def __repr__(self) -> str:
        return f"Promise({self.id!r})"


def complete_promise(id: str, payload: bytes | str | Any) -> bool:
    """Completes any worker's promise: `True` when this call completed it, `False`
    when it was completed already. `str` is sent as UTF-8, other non-bytes as JSON."""
    if isinstance(payload, str):
        payload = payload.encode()
    elif not isinstance(payload, (bytes, bytearray)):
        payload = json.dumps(payload).encode()
    p = _imports().promises
    return _unwrap(lambda: p.complete(id, bytes(payload)))


def sleep(seconds: float) -> None:
    """Sleeps durably: the timer is journaled, survives the executor, and a long
    sleep suspends the worker until a JetStream schedule wakes it."""
    ns = max(0, int(seconds * 1_000_000_000))
    _imports().monotonic_clock.subscribe_duration(ns).block()


# --- rpc ------------------------------------------------------------------------


class RpcError(Exception):
    """A worker-to-worker call did not return the callee's value. `kind` is one of
    `not-found`, `denied`, `remote-error`, `worker-failed`, `cycle`, `protocol`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _rpc(fn: Callable[[Any, Any], T], component: str, worker: str) -> T:
    from componentize_py_types import Err

    rpc = _imports().rpc
    try:
        return fn(rpc, rpc.WorkerId(component, worker))
    except Err as e:
        kind = type(e.value).__name__.split("_", 1)[-1]
        kind = "".join("-" + c.lower() if c.isupper() else c for c in kind).lstrip("-")
        raise RpcError(kind, e.value.value) from None


def call(component: str, worker: str, function: str, *args: Any) -> Any:
    """Invokes `function` of worker `component/worker` with `args` and waits for its
    result (arguments and result as JSON values). The callee runs it exactly once."""
    out = _rpc(lambda r, t: r.invoke_and_await(t, function, json.dumps(list(args))), component, worker)
    return json.loads(out)


def send(component: str, worker: str, function: str, *args: Any) -> str:
    """Invokes without waiting (fire-and-forget); returns the call's idempotency key."""
    return _rpc(lambda r, t: r.invoke(t, function, json.dumps(list(args))), component, worker)


def call_async(component: str, worker: str, function: str, *args: Any):
    """Invokes and returns at once a future: `subscribe()` for a pollable, `get()` for
    the outcome once it is there."""
    return _rpc(lambda r, t: r.invoke_async(t, function, json.dumps(list(args))), component, worker)


def schedule(at_epoch_ms: int, component: str, worker: str, function: str, *args: Any) -> str:
    """Schedules the invocation for `at_epoch_ms` (a durable JetStream schedule that
    fires once); returns its id for `cancel_schedule`."""
    return _rpc(
        lambda r, t: r.schedule(at_epoch_ms, t, function, json.dumps(list(args))), component, worker
    )


def cancel_schedule(component: str, worker: str, id: str) -> bool:
    """Cancels schedule `id` of `component/worker`: whether it was still pending."""
    return _rpc(lambda r, t: r.cancel_schedule(t, id), component, worker)
