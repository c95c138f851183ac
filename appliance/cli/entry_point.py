"""`studio`'s entry point: `studio rt|hootenanny|vibeweaver` start without the CLI's own imports.

systemd starts those three at every boot and after every crash, and typer,
rich and the other commands' modules were a sixth of chaosgarden's start (a
tenth of hootenanny's); under emulation a boot pays that in seconds. Every
other command line, `--help` included, goes to the typer app in
`appliance.cli.main`.
"""

from __future__ import annotations

import importlib
import sys

EXIT_USAGE = 2
PROCESSES = {
    "rt": ("chaosgarden", "appliance.rt.main"),
    "hootenanny": ("hootenanny", "appliance.services.main"),
    "vibeweaver": ("vibeweaver", "appliance.weave.main"),
}


def main() -> None:
    """`studio ARGS`: one of the box's processes straight away, anything else through the typer app."""
    args = sys.argv[1:]
    if len(args) == 1 and args[0] in PROCESSES:
        sys.exit(run_process(args[0]))
    from appliance.cli.main import app

    app(prog_name="studio")


def run_process(command: str) -> int:
    """Run one of the box's processes in the foreground until it is signalled; 2 when the config is invalid."""
    from appliance.config import ConfigError, load_config
    from appliance.logs import setup_logging

    name, module = PROCESSES[command]
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"studio: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(name, config.log_level)
    importlib.import_module(module).run(config)
    return 0
