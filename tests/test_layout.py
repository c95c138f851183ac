"""The architecture, as imports: which package may use which (read from the source, lazy imports included).

- The process packages (rt: chaosgarden, services: hootenanny, weave:
  vibeweaver) never import one another: each runs in its own process and
  talks to the others over ZMQ.
- Shared packages (proto, cas, config, ...) import no process package.
- In hootenanny, the domain never imports the agent layer (agent/: the MCP
  endpoint, tool registry and tools), which sits on top of it.
- The `studio` command uses shared modules and the box's public surfaces
  (its sockets, MCP); it starts the processes by module name, never imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "appliance"
PROCESSES = ("appliance.rt", "appliance.services", "appliance.weave")
AGENT = "appliance.services.agent"
# hootenanny's wiring and entry point assemble domain and agent layer; they are neither.
WIRING = ("appliance.services.hootenanny", "appliance.services.main")


def modules() -> dict[str, set[str]]:
    """Every module under appliance/ with every module it imports."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imports |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imports |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        found[name] = {i for i in imports if i.startswith("appliance")}
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def owner(name: str) -> str | None:
    return next((p for p in PROCESSES if within(name, p)), None)


MODULES = modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_respect_the_layers(module: str) -> None:
    home = owner(module)
    wrong = []
    for imported in sorted(MODULES[module]):
        there = owner(imported)
        if there is not None and there != home:
            wrong.append(f"{imported} (the {there} process)" if home else f"{imported} (a process package)")
        if within(imported, AGENT) and within(module, "appliance.services") and not within(module, AGENT) \
                and module not in WIRING:
            wrong.append(f"{imported} (the agent layer, from the domain)")
    assert not wrong, f"{module} imports {', '.join(wrong)}"


def test_the_layers_are_what_this_test_thinks() -> None:
    assert {"appliance.rt.garden", "appliance.services.capture.streams", "appliance.weave.kernel",
            "appliance.services.agent.mcp_endpoint", "appliance.cli.main"} <= set(MODULES)
