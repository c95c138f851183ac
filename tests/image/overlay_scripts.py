"""The box's own scripts from the image overlays, loaded as modules so tests run their functions on the host."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

IMAGE = Path(__file__).resolve().parents[2] / "image"


def load(path_in_image: str) -> ModuleType:
    """The script at `image/<path_in_image>` (it has no .py suffix, so importlib is told it is source)."""
    path = IMAGE / path_in_image
    loader = importlib.machinery.SourceFileLoader(path.name.replace("-", "_"), str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


boot_trial = load("overlay-arm64/usr/local/lib/studio/boot-trial")
studio_update = load("overlay/usr/local/sbin/studio-update")
