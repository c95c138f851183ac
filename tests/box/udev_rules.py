"""Parse udev rules strictly and evaluate them against a synthetic device, as udevd would for the keys we use.

This host has no udevadm that verifies rules (systemd 257's `udevadm verify`)
and no sound hardware for `udevadm test`, so the syntax check and the
rule-to-command path are tested with this: every line must be
`KEY[{attr}] op "value"` pairs with a known key and an operator that key
allows, every GOTO needs its LABEL, and evaluation follows udev(7) for
ACTION, SUBSYSTEM, KERNEL, ATTRS, ENV, GROUP, MODE, SYMLINK, TAG, GOTO and
LABEL, with $attr{}, $env{}, %k and %n substitution.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

PAIR = re.compile(r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^}]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "DEVPATH", "ATTRS", "ATTR", "KERNELS", "SUBSYSTEMS", "DRIVERS",
              "ENV", "TAG", "TEST"}
ASSIGN_KEYS = {"ENV", "GROUP", "OWNER", "MODE", "SYMLINK", "TAG", "RUN", "GOTO", "LABEL", "OPTIONS", "NAME"}
NEEDS_ATTR = {"ATTRS", "ATTR", "ENV"}


class RuleSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Pair:
    key: str
    attr: str | None
    op: str
    value: str


@dataclass
class Device:
    kernel: str
    subsystem: str
    devpath: str
    parents: list[dict[str, str]]  # sysfs attributes of each parent, nearest first
    action: str = "add"
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    env: dict[str, str]
    group: str | None = None
    mode: str | None = None
    symlinks: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def parse(path: Path) -> list[tuple[int, list[Pair]]]:
    """The rules as (line number, pairs); raise RuleSyntaxError naming the line on anything else."""
    rules = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rules.append((number, _pairs(number, line)))
    labels = {p.value for _, pairs in rules for p in pairs if p.key == "LABEL"}
    for number, pairs in rules:
        for p in pairs:
            if p.key == "GOTO" and p.value not in labels:
                raise RuleSyntaxError(f"line {number}: GOTO {p.value!r} has no LABEL")
    return rules


def _pairs(number: int, line: str) -> list[Pair]:
    pairs, pos = [], 0
    while pos < len(line):
        m = PAIR.match(line, pos)
        if m is None:
            raise RuleSyntaxError(f"line {number}: not KEY op \"value\" at column {pos + 1}: {line[pos:]!r}")
        pair = Pair(m["key"], m["attr"], m["op"], m["value"])
        _check(number, pair)
        pairs.append(pair)
        pos = m.end()
        if pos < len(line):
            if line[pos] != ",":
                raise RuleSyntaxError(f"line {number}: expected ',' at column {pos + 1}")
            pos += 1
    return pairs


def _check(number: int, p: Pair) -> None:
    is_match = p.op in ("==", "!=")
    if (is_match and p.key not in MATCH_KEYS) or (not is_match and p.key not in ASSIGN_KEYS):
        raise RuleSyntaxError(f"line {number}: {p.key} does not take {p.op}")
    if (p.key in NEEDS_ATTR) != (p.attr is not None):
        raise RuleSyntaxError(f"line {number}: {p.key} {'needs' if p.key in NEEDS_ATTR else 'takes no'} {{name}}")


def evaluate(rules: list[tuple[int, list[Pair]]], device: Device) -> Outcome:
    out = Outcome(env={"ACTION": device.action, "SUBSYSTEM": device.subsystem, "DEVPATH": device.devpath,
                       **device.env})
    goto = None
    for _number, pairs in rules:
        if goto is not None:
            if any(p.key == "LABEL" and p.value == goto for p in pairs):
                goto = None
            continue
        parent: dict[str, str] = {}
        if all(_matches(p, device, out, parent) for p in pairs if p.op in ("==", "!=")):
            goto = _apply([p for p in pairs if p.op not in ("==", "!=")], device, out, parent)
    return out


def _matches(p: Pair, device: Device, out: Outcome, parent: dict[str, str]) -> bool:
    if p.key == "ATTRS":
        for attrs in device.parents:
            if p.attr in attrs and _glob(attrs[p.attr], p.value):
                parent.update(attrs)
                return p.op == "=="
        return p.op == "!="
    actual = {"ACTION": device.action, "SUBSYSTEM": device.subsystem, "KERNEL": device.kernel,
              "DEVPATH": device.devpath}.get(p.key) if p.key != "ENV" else out.env.get(p.attr or "", "")
    return _glob(actual or "", p.value) == (p.op == "==")


def _glob(actual: str, pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(actual, alt) for alt in pattern.split("|"))


def _apply(pairs: list[Pair], device: Device, out: Outcome, parent: dict[str, str]) -> str | None:
    goto = None
    for p in pairs:
        value = _substitute(p.value, device, out, parent)
        if p.key == "ENV":
            joined = f"{out.env[p.attr]} {value}" if p.op == "+=" and out.env.get(p.attr) else value
            out.env[p.attr or ""] = joined
        elif p.key in ("GROUP", "MODE"):
            setattr(out, p.key.lower(), value)
        elif p.key == "SYMLINK":
            out.symlinks = (out.symlinks if p.op == "+=" else []) + value.split()
        elif p.key == "TAG":
            out.tags.append(value)
        elif p.key == "GOTO":
            goto = value
    return goto


def _substitute(value: str, device: Device, out: Outcome, parent: dict[str, str]) -> str:
    number = re.search(r"(\d+)$", device.kernel)
    value = re.sub(r"\$attr\{([^}]+)\}", lambda m: parent.get(m[1], ""), value)
    value = re.sub(r"\$env\{([^}]+)\}", lambda m: out.env.get(m[1], ""), value)
    return value.replace("%k", device.kernel).replace("%n", number[1] if number else "")
