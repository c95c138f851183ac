"""`studio token`: print (or rotate) the MCP bearer token."""

from __future__ import annotations

import typer

from appliance.cli.context import config_or_exit, console, errors


def token(rotate: bool = typer.Option(False, "--rotate", help="Make a new token; the old one stops working "
                                                               "when hootenanny restarts.")) -> None:
    """Print the bearer token agents need for MCP."""
    from appliance import token as tokens

    config = config_or_exit()
    if rotate:
        if config.mcp.token:
            errors.print("studio: the token is set by STUDIO_MCP_TOKEN (or [mcp] token); change it there")
            raise typer.Exit(2)
        console.print(tokens.rotate(config))
        return
    console.print(tokens.load_or_create(config))
