"""Completes a Revenant promise with nothing but nats-py (the README's snippet),
run by tests/tests/all/promises.rs.

A core request to rvn.promise.<component>.<worker>.<index> with the payload as
its body; any executor answers Rvn-Status: ok with {"completed": true} (this
request completed it) or {"completed": false} (completed before), or
Rvn-Status: error with {"kind", "message"}.

Usage: promise.py <nats-url> <component>/<worker>/<index> <json payload>
Prints one JSON object per request: {"status": ..., "body": ...} (twice: the
second completion of the same promise).
"""

import asyncio
import json
import sys

import nats


async def main(url: str, promise_id: str, payload: str) -> None:
    nc = await nats.connect(url)
    component, worker, index = promise_id.split("/")
    for _ in range(2):
        msg = await nc.request(
            f"rvn.promise.{component}.{worker}.{index}", payload.encode(), timeout=30
        )
        status = (msg.headers or {}).get("Rvn-Status")
        print(json.dumps({"status": status, "body": json.loads(msg.data)}), flush=True)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
