"""HTTP generator spaces from the config, against a real HTTP server on 127.0.0.1."""

import asyncio
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from appliance.cas import ContentStore
from appliance.config import ConfigError, load_config
from appliance.weave.http_spaces import parse_spaces
from appliance.weave.main import serve

WAV = b"RIFF" + bytes(100)


class Generator(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 - the http.server name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Generator.requests.append((self.path, body))
        if self.path == "/busy":
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"GPU busy, try later")
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(WAV)))
        self.end_headers()
        self.wfile.write(WAV)

    def log_message(self, *args):
        pass


@pytest.fixture
def generator():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Generator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Generator.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_http_space_makes_an_artifact(peer, short_tmp, generator):
    config = load_config(files=(), environ={
        "STUDIO_DATA_DIR": str(short_tmp / "data"), "STUDIO_RUN_DIR": str(short_tmp / "run"),
        "STUDIO_WEAVE_GENERATORS": f"strings={generator}/generate,broken={generator}/busy"})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, stop))
    try:
        await peer.wait_ready()
        out = await peer.eval("a = await sample('strings', 'slow swell', inference={'seconds': 4}, tags=['pad'])\n"
                              "a.mime, a.tags, a.content_hash")
        assert out["success"], out["error"]
        mime, tags, digest = eval(out["result"])  # noqa: S307 - a repr the test made
        assert (mime, tags) == ("audio/wav", ("pad",))
        assert ContentStore(config.data_dir / "cas").path(digest).read_bytes() == WAV
        assert Generator.requests == [("/generate", {"space": "strings", "prompt": "slow swell",
                                                     "inference": {"seconds": 4}, "tags": ["pad"]})]
        (register,) = [args for name, args in peer.calls if name == "artifact_register"]
        assert register["content_hash"] == digest and register["metadata"]["space"] == "strings"

        failed = await peer.eval("await sample('broken', 'x')")
        assert "GeneratorError" in failed["error"] and "503: GPU busy, try later" in failed["error"]
        summary = (await peer.call("weave_session"))["structured"]
        assert "strings" in summary["spaces"] and "broken" in summary["spaces"]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 20)


def test_bad_generator_entries_are_config_errors():
    with pytest.raises(ConfigError, match="is not name=http"):
        parse_spaces(["no-url-here"], 10)
    with pytest.raises(ConfigError, match="already defined"):
        parse_spaces(["pattern=http://h/x"], 10)
    assert parse_spaces(["gpu=http://gpu.lan:9000/gen"], 10)["gpu"].url == "http://gpu.lan:9000/gen"
