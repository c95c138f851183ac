"""`make bench`: run every benchmark module in this folder, one after another."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

import bench

SKIP = {"report"}


def main() -> int:
    failed = 0
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
        if module in SKIP or module.startswith("_"):
            continue
        try:
            importlib.import_module(f"bench.{module}").main()
        except SystemExit as exc:
            print(f"{module}: not run: {exc}", flush=True)
            failed += 1
        except Exception:
            traceback.print_exc()
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
