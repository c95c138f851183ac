"""`studio doctor`: what the box needs from the machine to record without glitches, each problem with its fix.

Checks: realtime priority and locked memory for chaosgarden (its process's
limits when systemd runs it, else this shell's, which `studio rt` would
inherit), the CPU frequency governor, free space for recordings, sound cards,
and clock synchronisation (slices by wall time depend on it). A check that
cannot tell says so without failing; any problem makes the exit code 1.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from appliance.cli.context import EXIT_FAILURE, config_or_exit, console, print_json
from appliance.cli.status_commands import disk

CPU_DIR = Path("/sys/devices/system/cpu")
ASOUND_CARDS = Path("/proc/asound/cards")
MIN_FREE_BYTES = 2 * 2**30  # about an hour of 8 channels at 48 kHz, 32 bit
MIN_FREE_FRACTION = 0.05
RTPRIO_FIX = ("chaosgarden.service sets LimitRTPRIO=95 (install systemd/chaosgarden.service, then `systemctl "
              "daemon-reload && systemctl restart chaosgarden`); for `studio rt` from a shell add "
              "'studio - rtprio 95' to /etc/security/limits.d/studio.conf and log in again")
MEMLOCK_FIX = ("chaosgarden.service sets LimitMEMLOCK=infinity (install systemd/chaosgarden.service, then "
               "`systemctl daemon-reload && systemctl restart chaosgarden`); for `studio rt` from a shell add "
               "'studio - memlock unlimited' to /etc/security/limits.d/studio.conf and log in again")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    state: Literal["ok", "problem", "unknown"]
    detail: str
    fix: str = ""


def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Check RT limits, memory lock, CPU governor, disk space, sound cards and clock sync; exit 1 on a problem."""
    config = config_or_exit()
    source, limits = chaosgarden_limits()
    findings = [rt_priority(limits, config.rt.priority, source), memory_lock(limits, source), governor(CPU_DIR),
                free_space(config.data_dir), sound_cards(ASOUND_CARDS), clock_sync()]
    if as_json:
        print_json([asdict(f) for f in findings])
    else:
        _print(findings)
    if any(f.state == "problem" for f in findings):
        raise typer.Exit(EXIT_FAILURE)


def chaosgarden_limits() -> tuple[str, dict[str, float]]:
    """Soft limits of the running chaosgarden under systemd, else of this process (`studio rt` from here)."""
    pid = _unit_main_pid("chaosgarden")
    if pid:
        return f"chaosgarden (pid {pid})", read_limits(Path(f"/proc/{pid}/limits"))
    return "this shell (what `studio rt` started here gets)", read_limits(Path("/proc/self/limits"))


def read_limits(path: Path) -> dict[str, float]:
    """/proc/<pid>/limits as {name: soft value}, 'unlimited' as infinity."""
    limits = {}
    for line in path.read_text().splitlines()[1:]:
        name, soft = line[:26].strip(), line[26:].split()[0]
        limits[name] = math.inf if soft == "unlimited" else float(soft)
    return limits


def _unit_main_pid(unit: str) -> int:
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return 0
    out = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", unit], capture_output=True,
                         text=True, timeout=10)
    return int(out.stdout.strip() or 0) if out.returncode == 0 else 0


def rt_priority(limits: dict[str, float], wanted: int, source: str) -> Finding:
    granted = limits.get("Max realtime priority", 0)
    if granted >= wanted:
        return Finding("realtime priority", "ok", f"{source}: rtprio limit {_show(granted)} >= {wanted}")
    return Finding("realtime priority", "problem",
                   f"{source}: rtprio limit is {_show(granted)}, capture threads need {wanted} (SCHED_FIFO); "
                   "without it they run at normal priority and overrun under load", RTPRIO_FIX)


def memory_lock(limits: dict[str, float], source: str) -> Finding:
    granted = limits.get("Max locked memory", 0)
    if granted == math.inf:
        return Finding("memory lock", "ok", f"{source}: memlock unlimited")
    return Finding("memory lock", "problem",
                   f"{source}: memlock limit is {_show(granted)} bytes, chaosgarden locks all its memory "
                   "(mlockall) so page faults never stall capture", MEMLOCK_FIX)


def governor(cpu_dir: Path) -> Finding:
    files = sorted(cpu_dir.glob("cpu[0-9]*/cpufreq/scaling_governor"))
    if not files:
        return Finding("cpu governor", "ok", "no cpufreq here (fixed clock or a virtual machine)")
    slow = sorted({f.read_text().strip() for f in files} - {"performance"})
    if not slow:
        return Finding("cpu governor", "ok", f"performance on {len(files)} CPUs")
    return Finding("cpu governor", "problem",
                   f"governor {', '.join(slow)}: frequency changes add latency spikes to capture",
                   "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; to keep "
                   "it, apt-get install cpufrequtils and set GOVERNOR=performance in /etc/default/cpufrequtils")


def free_space(data_dir: Path) -> Finding:
    usage = disk(data_dir)
    free, total = usage["free_bytes"], usage["total_bytes"]
    detail = f"{usage['path']}: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
    if free >= MIN_FREE_BYTES and free >= MIN_FREE_FRACTION * total:
        return Finding("disk space", "ok", detail)
    return Finding("disk space", "problem", f"{detail}; recording stops when it is full",
                   "`studio cas gc` removes what nothing references; limit streams with the stream_retention "
                   "tool; or give the data directory a larger disk")


def sound_cards(cards: Path) -> Finding:
    try:
        text = cards.read_text()
    except OSError:
        return Finding("sound cards", "problem", f"{cards} is missing: the kernel has no ALSA sound support loaded",
                       "modprobe snd-usb-audio (USB interfaces) or load your card's driver; `aplay -l` lists cards")
    names = [line.split("]:", 1)[1].strip() for line in text.splitlines() if "]:" in line]
    if not names:
        return Finding("sound cards", "problem", "no sound cards",
                       "plug in the audio interface (and check `dmesg` for its driver); `aplay -l` lists cards")
    return Finding("sound cards", "ok", "; ".join(names))


def clock_sync() -> Finding:
    """NTPSynchronized from timedatectl, else chrony's leap status."""
    if shutil.which("timedatectl"):
        out = _run(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
        if out in ("yes", "no"):
            return _clock_finding(out == "yes", "timedatectl")
    if shutil.which("chronyc"):
        out = _run(["chronyc", "-n", "tracking"])
        if "Leap status" in out:
            return _clock_finding("Leap status     : Normal" in out, "chronyc")
    return Finding("clock sync", "unknown", "cannot tell: timedatectl needs systemd running, and chrony is not "
                   "installed", "apt-get install chrony (or boot with systemd-timesyncd)")


def _clock_finding(synced: bool, by: str) -> Finding:
    if synced:
        return Finding("clock sync", "ok", f"synchronised ({by})")
    return Finding("clock sync", "problem", f"not synchronised ({by}): slices by wall time will be off",
                   "systemctl enable --now systemd-timesyncd (or chrony), and let the box reach an NTP server")


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _show(value: float) -> str:
    return "unlimited" if value == math.inf else str(int(value))


def _print(findings: list[Finding]) -> None:
    style = {"ok": "[green]ok[/]", "problem": "[red]problem[/]", "unknown": "[yellow]unknown[/]"}
    table = Table("check", "state", "detail", box=None)
    for f in findings:
        table.add_row(f.check, style[f.state], escape(f.detail))
    console.print(table)
    for f in findings:
        if f.state != "ok" and f.fix:
            console.print(f"\n[bold]{f.check}[/] fix: {escape(f.fix)}")
