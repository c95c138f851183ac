"""Where each process's ZMQ sockets live: `ipc://` files in the runtime directory, never the LAN."""

from __future__ import annotations

import os
from pathlib import Path

# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
MAX_IPC_PATH = 107

GARDEN_COMMANDS = "chaosgarden.sock"  # ROUTER in chaosgarden; hootenanny sends stream/transport commands
GARDEN_EVENTS = "chaosgarden-events.sock"  # PUB in chaosgarden
HOOTENANNY_WORKERS = "hootenanny.sock"  # ROUTER in hootenanny; vibeweaver and the CLI connect
HOOTENANNY_EVENTS = "hootenanny-events.sock"  # PUB in hootenanny: the fan-out everyone subscribes to


def prepare_runtime_dir(run_dir: Path) -> Path:
    """Create the socket directory so only our user (and group) can reach the sockets."""
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o750)
    return run_dir


def ipc(run_dir: Path, name: str) -> str:
    path = Path(run_dir).absolute() / name
    if len(str(path).encode()) > MAX_IPC_PATH:
        raise ValueError(
            f"socket path {path} is {len(str(path))} bytes; unix sockets allow {MAX_IPC_PATH}: "
            "choose a shorter run_dir (STUDIO_RUN_DIR)"
        )
    return f"ipc://{path}"
