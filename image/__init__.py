"""The flashable studio box image: build it (`python -m image.build`) and boot it under qemu (`image.boot_test`)."""

from pathlib import Path

# Where builds, updates and their work directories go (gitignored).
DEFAULT_OUT = Path(__file__).resolve().parent / "out"
