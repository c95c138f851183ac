"""A ROUTER that answers `streamStop` with `ack` and counts how often it ran; for cross-process tests.

Usage: python -m tests.support.echo_responder ENDPOINT COUNT_FILE
"""

import asyncio
import sys
from pathlib import Path

import zmq
import zmq.asyncio

from appliance.proto.channel import Channel, Incoming, RequestError
from appliance.proto.codec import Body


async def main(endpoint: str, count_file: Path) -> None:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(endpoint)
    runs = 0

    async def handle(incoming: Incoming) -> Body:
        nonlocal runs
        runs += 1
        count_file.write_text(str(runs))
        if incoming.body.kind != "streamStop":
            raise RequestError("badRequest", f"only streamStop, got {incoming.body.kind}")
        return Body("ack")

    print("ready", flush=True)
    await Channel(sock, name="echo", handler=handle).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
