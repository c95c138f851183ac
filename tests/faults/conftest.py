"""The faults suite (`make faults`): every scenario runs the real box and reports its figures.

A test asks for the `figure` fixture and records what it measured; each
figure is printed as one line when recorded and again, as a table, at the
end of the run (the README's reliability section lists the commands).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

REPORT_ENV = "STUDIO_FAULTS_REPORT"  # where to write the figures as JSON, when set


@dataclass(frozen=True)
class Figure:
    scenario: str
    name: str
    value: str
    target: str
    ok: bool


_figures: list[Figure] = []


class FigureRecorder:
    """What one scenario measured; `ok=None` means a reported figure with no pass/fail target."""

    def __init__(self, scenario: str, reporter) -> None:
        self.scenario = scenario
        self.reporter = reporter

    def __call__(self, name: str, value: object, target: str = "", ok: bool | None = None) -> None:
        figure = Figure(self.scenario, name, str(value), target, True if ok is None else ok)
        _figures.append(figure)
        if self.reporter is not None:
            self.reporter.write_line(f"figure  {_line(figure)}")


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> FigureRecorder:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    return FigureRecorder(request.node.name.removeprefix("test_"), reporter)


def _line(f: Figure) -> str:
    verdict = "" if not f.target else ("  ok" if f.ok else "  FAILED")
    target = f"  (target {f.target})" if f.target else ""
    return f"{f.scenario}: {f.name} = {f.value}{target}{verdict}"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _figures:
        return
    terminalreporter.section("faults: figures")
    width = max(len(f"{f.scenario}: {f.name}") for f in _figures)
    for f in _figures:
        label = f"{f.scenario}: {f.name}".ljust(width)
        target = f"target {f.target}" if f.target else ""
        verdict = ("ok" if f.ok else "FAILED") if f.target else ""
        terminalreporter.write_line(f"{label}  {f.value:>14}  {target:<22} {verdict}".rstrip())
    if os.environ.get(REPORT_ENV):
        Path(os.environ[REPORT_ENV]).write_text(json.dumps([asdict(f) for f in _figures], indent=2))
