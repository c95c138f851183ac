"""`studio`: the entry point. Sub-commands live in modules named for what they manage."""

from __future__ import annotations

import typer

from appliance.cli import (cas_commands, config_commands, device_commands, doctor, eval_command, log_commands,
                           process_commands, session_commands, status_commands, stream_commands, token_commands)

app = typer.Typer(
    name="studio",
    help="The studio box: capture, slicing and a live-coding kernel for Eurorack.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(cas_commands.app, name="cas")
app.add_typer(config_commands.app, name="config")
app.add_typer(device_commands.app, name="device")
app.command("rt")(process_commands.rt)
app.command("hootenanny")(process_commands.hootenanny)
app.command("vibeweaver")(process_commands.vibeweaver)
app.command("up")(process_commands.up)
app.command("token")(token_commands.token)
app.command("status")(status_commands.status)
app.command("logs")(log_commands.logs)
app.command("streams")(stream_commands.streams)
app.command("sessions")(session_commands.sessions)
app.command("export")(session_commands.export)
app.command("slice")(stream_commands.slice_)
app.command("eval")(eval_command.eval_)
app.command("doctor")(doctor.doctor)
