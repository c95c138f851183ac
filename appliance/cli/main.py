"""`studio`: the entry point. Sub-commands live in modules named for what they manage."""

from __future__ import annotations

import typer

from appliance.cli import cas_commands, config_commands, process_commands, token_commands

app = typer.Typer(
    name="studio",
    help="The studio box: capture, slicing and a live-coding kernel for Eurorack.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(cas_commands.app, name="cas")
app.add_typer(config_commands.app, name="config")
app.command("rt")(process_commands.rt)
app.command("hootenanny")(process_commands.hootenanny)
app.command("vibeweaver")(process_commands.vibeweaver)
app.command("up")(process_commands.up)
app.command("token")(token_commands.token)
