"""A non-Rust Revenant client, run by tests/tests/all/python_client.rs.

Uses only nats-py and the NATS contract (ARCHITECTURE.md "The NATS contract"):

  (a) JetStream publish to rvn.invoke.counter.<worker> with the headers
      Rvn-Function, Nats-Msg-Id and Rvn-Reply-To, awaiting the result on a
      subscription to the reply subject;
  (b) a core request on rvn.call.counter.<worker> with Rvn-Function.

Usage: client.py <nats-url> <worker>
Prints one JSON object per line: {"via": ..., "status": ..., "body": ...}.
"""

import asyncio
import json
import sys

import nats


async def main(url: str, worker: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()

    def line(via, msg):
        status = (msg.headers or {}).get("Rvn-Status")
        print(json.dumps({"via": via, "status": status, "body": json.loads(msg.data)}), flush=True)

    # (a) JetStream publish with a reply subject; the same key twice is one invocation.
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    headers = {"Rvn-Function": "add", "Nats-Msg-Id": f"py-{worker}-1", "Rvn-Reply-To": inbox}
    for _ in range(2):
        ack = await js.publish(f"rvn.invoke.counter.{worker}", b"[5]", headers=headers)
        print(json.dumps({"via": "puback", "duplicate": bool(ack.duplicate)}), flush=True)
    line("invoke", await sub.next_msg(timeout=30))

    # (b) core request/reply, as `nats request` does.
    msg = await nc.request(f"rvn.call.counter.{worker}", b"[5]", headers={"Rvn-Function": "add"}, timeout=30)
    line("call", msg)
    msg = await nc.request(f"rvn.call.counter.{worker}", b"[\"x\"]", headers={"Rvn-Function": "add"}, timeout=30)
    line("call-bad", msg)
    msg = await nc.request(
        f"rvn.call.counter.{worker}", b"", headers={"Rvn-Function": "get", "Content-Type": "application/wave"}, timeout=30
    )
    line("call-wave", msg)
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
