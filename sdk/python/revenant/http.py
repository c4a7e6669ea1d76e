"""A blocking HTTP client over `wasi:http/outgoing-handler` for Python guests.

Revenant journals the request and the whole response, so a replay returns the
recorded response without calling the server again (outgoing calls are at least
once across a crash before the response was journaled: send an
`revenant.idempotency_key()` in a header where the server can deduplicate).
Your world must `import wasi:http/outgoing-handler@0.2.12;`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, streams, types as http

__all__ = ["Response", "HttpError", "request", "get"]


@dataclass
class Response:
    status: int
    body: bytes
    headers: Dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class HttpError(Exception):
    """The request could not be sent or its response not read (the `wasi:http` error code)."""


def request(method: str, url: str, body: Optional[bytes] = None,
            headers: Optional[Dict[str, str]] = None) -> Response:
    """Sends `method url` with `body` and `headers`; returns the whole response."""
    parts = urlsplit(url)
    schemes = {"http": http.Scheme_Http(), "https": http.Scheme_Https()}
    if parts.scheme not in schemes or not parts.netloc:
        raise HttpError(f"expected an absolute http(s) URL, got {url!r}")
    methods = {"GET": http.Method_Get(), "POST": http.Method_Post(), "PUT": http.Method_Put(),
               "DELETE": http.Method_Delete(), "PATCH": http.Method_Patch(), "HEAD": http.Method_Head()}
    fields = http.Fields.from_list([(k, v.encode()) for k, v in (headers or {}).items()])
    req = http.OutgoingRequest(fields)
    req.set_method(methods.get(method.upper()) or http.Method_Other(method))
    req.set_scheme(schemes[parts.scheme])
    req.set_authority(parts.netloc)
    req.set_path_with_query(parts.path + (f"?{parts.query}" if parts.query else "") or "/")
    out = req.body()
    if body:
        stream = out.write()
        for i in range(0, len(body), 4096):
            stream.blocking_write_and_flush(body[i:i + 4096])
        del stream
    http.OutgoingBody.finish(out, None)

    try:
        future = outgoing_handler.handle(req, None)
    except Err as e:
        raise HttpError(f"{method} {url}: {e.value}") from None
    # Every resource is dropped here, children before their parents (a pollable before
    # its future, a stream before its body, a body and fields before their response):
    # the host refuses to drop a parent whose children live on, and Python's garbage
    # collector, left to it, drops them in no particular order.
    while (got := future.get()) is None:
        with future.subscribe() as ready:
            ready.block()
    if isinstance(got, Err) or isinstance(got.value, Err):
        inner = got.value if isinstance(got, Ok) else got
        future.__exit__(None, None, None)
        raise HttpError(f"{method} {url}: {inner.value}")
    resp = got.value.value
    status = resp.status()
    with resp.headers() as fields:
        names = {k: v.decode("utf-8", "replace") for k, v in fields.entries()}
    incoming = resp.consume()
    chunks = []
    failed = None
    with incoming.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(65536))
            except Err as e:
                if not isinstance(e.value, streams.StreamError_Closed):
                    failed = e.value
                break
    incoming.__exit__(None, None, None)
    resp.__exit__(None, None, None)
    future.__exit__(None, None, None)
    if failed is not None:
        raise HttpError(f"{method} {url}: reading the body: {failed}")
    return Response(status, b"".join(chunks), names)


def get(url: str, headers: Optional[Dict[str, str]] = None) -> Response:
    """`GET url`."""
    return request("GET", url, None, headers)
