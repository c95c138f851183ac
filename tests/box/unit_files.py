"""Read systemd unit files as systemd does: sections of `Key=value` lines, keys may repeat."""

from __future__ import annotations

from pathlib import Path

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
SERVICES = ("chaosgarden.service", "hootenanny.service", "vibeweaver.service")
ALL_UNITS = (*SERVICES, "studio.target", "studio-device@.service")
INSTALLED_STUDIO = "/opt/studio/venv/bin/studio"


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep, f"{path.name}:{number}: not `Key=value` inside a section: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    """Every value of `key`, space-separated lists split (as systemd merges repeated list keys)."""
    return [word for k, v in unit.get(section, []) if k == key for word in v.split()]


def value(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> str | None:
    found = [v for k, v in unit.get(section, []) if k == key]
    return found[-1] if found else None
