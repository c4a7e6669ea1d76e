"""Schedules a Revenant invocation with nothing but nats-py (the README's
snippet), run by tests/tests/all/schedules.rs.

Publishes a message-schedule holder to rvn.schedule.<component>.<worker>.<id>
in JetStream: Nats-Schedule "@at <RFC 3339>" (or a cron form on nats-server
2.14+), Nats-Schedule-Target rvn.invoke.<component>.<worker>, Nats-TTL never,
Rvn-Function, Rvn-Idempotency-Key (a one-off's firing key); the body is the
JSON array of arguments. nats-server fires it into the worker's inbox.

Usage: schedule.py <nats-url> <component>/<worker> <id> <RFC 3339 time> <function> <json args>
Prints {"stream": ..., "seq": ...} of the stored holder.
"""

import asyncio
import json
import sys

import nats


async def main(url, worker, sid, at, function, args):
    nc = await nats.connect(url)
    js = nc.jetstream()
    component, name = worker.split("/")
    ack = await js.publish(
        f"rvn.schedule.{component}.{name}.{sid}",
        args.encode(),
        headers={
            "Nats-Schedule": f"@at {at}",
            "Nats-Schedule-Target": f"rvn.invoke.{component}.{name}",
            "Nats-TTL": "never",
            "Rvn-Function": function,
            "Rvn-Idempotency-Key": f"{sid}@{at}",
        },
    )
    print(json.dumps({"stream": ack.stream, "seq": ack.seq}), flush=True)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
