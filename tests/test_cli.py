import json
import os
import subprocess
import sys
from pathlib import Path

from appliance.cas import ContentStore


def studio(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
                          env=environ, timeout=60)


def test_help_lists_commands():
    out = studio("--help")
    assert out.returncode == 0
    for command in ("cas", "config"):
        assert command in out.stdout


def test_cas_verify_ok_and_corrupt(tmp_path):
    env = {"STUDIO_DATA_DIR": str(tmp_path)}
    store = ContentStore(tmp_path / "cas")
    digest = store.put(b"x" * 1000)
    ok = studio("cas", "verify", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["checked"] == 1
    path = store.path(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"y")
    bad = studio("cas", "verify", env=env)
    assert bad.returncode == 1
    assert f"mismatch {digest}" in bad.stderr


def test_config_error_exits_2_and_names_the_setting():
    out = studio("config", "show", env={"STUDIO_MCP_PORT": "eighty"})
    assert out.returncode == 2
    assert "mcp.port" in out.stderr and "eighty" in out.stderr


def test_config_show_masks_token(tmp_path):
    out = studio("config", "show", "--json", env={"STUDIO_MCP_TOKEN": "s3cret-token-1234567"})
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["mcp"]["token"] == "********"
    assert "s3cret" not in out.stdout


def test_process_commands_start_without_the_cli_imports(tmp_path):
    """systemd starts these at every boot and crash: they skip typer and rich, and still refuse a bad config."""
    for command in ("rt", "hootenanny", "vibeweaver"):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "appliance.cli", command], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "STUDIO_MCP_PORT": "eighty"})
        assert out.returncode == 2
        assert "studio: configuration error:" in out.stderr and "mcp.port" in out.stderr and "eighty" in out.stderr
        imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
        assert "appliance.config" in imported
        assert not imported & {"typer", "rich", "appliance.cli.main", "appliance.cli.context"}


def test_process_commands_still_have_their_help():
    out = studio("rt", "--help")
    assert out.returncode == 0
    assert "Run chaosgarden" in out.stdout
