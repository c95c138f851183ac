"""Layered, typed configuration.

Sources, later wins: built-in defaults, `/etc/studio/studio.toml`,
`./studio.toml`, then `STUDIO_*` environment variables. A TOML table maps to a
section (`[mcp] port = 8080`); an environment variable names section and key
(`STUDIO_MCP_PORT=8080`) or a top-level key (`STUDIO_DATA_DIR=/srv/studio`).
A bad value fails with `ConfigError` naming where it came from and what is allowed.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

log = logging.getLogger(__name__)

CONFIG_FILES = (Path("/etc/studio/studio.toml"), Path("studio.toml"))
ENV_PREFIX = "STUDIO_"
# Environment variables with the prefix that are not the box's settings: the test, benchmark and image tooling's.
NOT_SETTINGS = ("STUDIO_HIL_", "STUDIO_FAULTS_", "STUDIO_BENCH_", "STUDIO_VM_", "STUDIO_CONFIG_FILES")
# Settings whose values an error must not repeat: its message goes to the journal.
SECRETS = {("mcp", "token")}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the source and the rule."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class McpConfig(_Section):
    bind: str = Field("127.0.0.1", description="address the MCP endpoint listens on")
    port: int = Field(8080, ge=1, le=65535)
    token: str | None = Field(None, min_length=16, description="bearer token; default: <data>/mcp-token")
    allowed_hosts: list[str] = Field(default_factory=list, description="extra Host names accepted")


class RtConfig(_Section):
    priority: int = Field(70, ge=1, le=99, description="SCHED_FIFO priority of capture threads")
    ring_seconds: float = Field(60.0, gt=0, le=3600, description="RAM ring when spare chunks run out")
    memory_budget_mb: int | None = Field(
        None, ge=16, description="RAM all recording streams together may lock (mapped chunks and RAM rings); "
                                 "default: half the machine's memory. A stream that would pass it is refused")
    head_interval_ms: int = Field(100, ge=10, le=5000)
    spare_chunks: int = Field(3, ge=1, le=64)
    beat_resolution: int = Field(4, ge=1, le=96, description="beat ticks per beat")
    playback_device: str = Field("sim", description="ALSA PCM for timeline playback; 'sim': none (audio discarded)")
    playback_clock: Literal["device", "monotonic"] = Field(
        "device", description="what paces playback and the beat clock: the device's position, or CLOCK_MONOTONIC "
                              "(for unpaced PCMs such as the ALSA file plugin over null)")
    playback_period_frames: int = Field(256, ge=32, le=8192)
    midi_seal_seconds: float = Field(
        60.0, gt=0, le=3600, description="a MIDI chunk is sealed once its oldest event is this old, so sparse MIDI "
                                         "never lives for long only in a staging file")
    midi_out: str | None = Field(None, description="raw MIDI output for timeline MIDI (a rawmidi path or FIFO)")
    link: Literal["off", "follow", "lead"] = Field(
        "off", description="Ableton Link tempo (needs the 'link' extra, aalink): 'follow' takes the session's tempo, "
                           "'lead' imposes the box's on the other peers")


class CaptureConfig(_Section):
    chunk_samples: int = Field(131072, ge=1024, le=1 << 30)
    sample_rate: int = Field(48000, ge=8000, le=768000)
    sim_streams: bool = Field(False, description="record the simulated Eurorack (stream://sim/audio, /midi)")
    clock_seconds: float = Field(10.0, gt=0, le=3600, description="every stream keeps a clock snapshot at least "
                                                                   "this often (besides chunk edges and device events)")
    disk_reserve_mb: int = Field(64, ge=0, le=1 << 20,
                                 description="recording stops when a new chunk would leave less free than this")


class WireConfig(_Section):
    heartbeat_seconds: float = Field(1.0, gt=0, le=60)
    heartbeat_liveness: int = Field(3, ge=1, le=100, description="missed beats before a peer is gone")
    request_timeout_seconds: float = Field(5.0, gt=0, le=600)
    request_retries: int = Field(3, ge=0, le=100)


class WeaveConfig(_Section):
    cell_timeout_seconds: float = Field(30.0, gt=0, le=86400)
    generators: list[str] = Field(default_factory=list, description="HTTP generator spaces, name=url")
    generator_timeout_seconds: float = Field(300.0, gt=0, le=3600)
    history_limit: int = Field(10000, ge=100, le=10_000_000, description="history entries kept in sqlite")


class AnalysisConfig(_Section):
    max_seconds: float = Field(600.0, gt=0, le=86400, description="the longest window stream_analyze reads at once: "
                                                                   "its samples are held in memory as float32")
    max_notes: int = Field(1000, ge=1, le=1_000_000, description="notes listed by stream_analyze (all are counted)")


class SlicingConfig(_Section):
    excerpt_max_seconds: float = Field(
        30.0, gt=0, le=600, description="the longest excerpt stream_slice returns as audio content (16-bit WAV, "
                                        "base64 in the reply: about 250 kB per second of stereo at 48 kHz)")
    max_notes: int = Field(1000, ge=1, le=1_000_000, description="notes stream_slice lists in its result with "
                                                                 "output 'notes' (its artifact holds them all)")


class Config(_Section):
    data_dir: Path = Field(Path("var"), validate_default=True, description="recordings, CAS, sqlite")
    run_dir: Path | None = Field(None, description="ZMQ sockets; default <data_dir>/run")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    mcp: McpConfig = Field(default_factory=McpConfig)
    rt: RtConfig = Field(default_factory=RtConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    wire: WireConfig = Field(default_factory=WireConfig)
    weave: WeaveConfig = Field(default_factory=WeaveConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    slicing: SlicingConfig = Field(default_factory=SlicingConfig)

    @field_validator("data_dir", "run_dir")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        # Resolved here, once, against the directory the process was started in: these paths cross process
        # boundaries (chunk paths go to chaosgarden, sockets to every peer), where a relative one means
        # something else or is refused. `studio up` passes the resolved value on to its children.
        return None if path is None else path.expanduser().absolute()

    @property
    def runtime_dir(self) -> Path:
        return self.run_dir if self.run_dir is not None else self.data_dir / "run"


SECTIONS = {name for name, f in Config.model_fields.items() if isinstance(f.default_factory, type)}


def _section(name: str) -> type[BaseModel]:
    """The model of the section `name` (a key of SECTIONS)."""
    model = Config.model_fields[name].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def load_config(
    files: tuple[Path, ...] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read every layer and validate once; raise ConfigError on the first bad value."""
    environ = os.environ if environ is None else environ
    if files is None:
        listed = environ.get("STUDIO_CONFIG_FILES")
        files = tuple(Path(p) for p in listed.split(":")) if listed else CONFIG_FILES
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for path in files:
        if path.is_file():
            _merge(merged, origin, _read_toml(path), str(path))
    _merge(merged, origin, _from_environ(environ), "environment")
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(NOT_SETTINGS):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        section, _, rest = key.partition("_")
        if key in Config.model_fields and key not in SECTIONS:
            layer[key] = raw
        elif section in SECTIONS and rest in _section(section).model_fields:
            field = _section(section).model_fields[rest]
            value: Any = [v.strip() for v in raw.split(",") if v.strip()] if _is_list(field) else raw
            layer.setdefault(section, {})[rest] = value
        else:
            raise ConfigError(f"environment: {name} is not a setting; known: {', '.join(env_names())}")
    return layer


def _is_list(field: Any) -> bool:
    return getattr(field.annotation, "__origin__", None) is list


def env_names() -> list[str]:
    """Every environment variable that sets something."""
    names = [f"STUDIO_{k.upper()}" for k in Config.model_fields if k not in SECTIONS]
    for section in sorted(SECTIONS):
        names += [f"STUDIO_{section.upper()}_{k.upper()}" for k in _section(section).model_fields]
    return names


def _merge(into: dict, origin: dict, layer: dict, source: str, path: tuple[str, ...] = ()) -> None:
    for key, value in layer.items():
        where = (*path, key)
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], origin, value, source, where)
        else:
            into[key] = value
            origin[where] = source
            if isinstance(value, dict):
                for sub in value:
                    origin[(*where, sub)] = source


def _explain(exc: ValidationError, origin: dict[tuple[str, ...], str]) -> str:
    lines = []
    for err in exc.errors():
        where = tuple(str(p) for p in err["loc"])
        source = origin.get(where) or origin.get(where[:1]) or "defaults"
        got = f" (got {err['input']!r})" if err["type"] != "extra_forbidden" and where not in SECRETS else ""
        what = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{source}: {'.'.join(where)}: {what}{got}")
    return "; ".join(lines)
