# Two commands matter: `make run` (the whole box on a simulated Eurorack) and
# `make test`. Both build .venv from scratch on a fresh Debian/Ubuntu machine.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST  := $(BIN)/python -m pytest

# pyalsaaudio compiles against libasound; the update-signing tests (tests/image)
# sign with gpg and check with gpgv, as the build and the box do; the Pi's boot
# script test (tests/image/test_boot_script.py) runs it in Debian's qemu build
# of U-Boot on a disk made as the image build makes one. BENCH_DEBS are
# benchmark peers.
BUILD_DEBS := libasound2-dev gpg gpgv
TEST_DEBS  := qemu-system-arm u-boot-qemu u-boot-tools mtools dosfstools fdisk
BENCH_DEBS := b3sum sox alsa-utils

# Installs missing Debian packages when we are root, else says what to run.
define ensure_debs
	@missing=""; \
	for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "make: missing Debian packages:$$missing"; \
	    echo "make: run this once, then try again:  sudo apt-get install$$missing"; \
	    exit 1; \
	  fi; \
	fi
endef

.PHONY: run test bench faults image image-test hil vm clean system-deps bench-deps interop

system-deps:
	@command -v dpkg-query >/dev/null || { echo "make: not a Debian system; install ALSA development headers (alsa-lib) yourself"; exit 0; }
	@$(PY) -c 'import ensurepip' 2>/dev/null || $(MAKE) --no-print-directory _venv-deb
	$(call ensure_debs,$(BUILD_DEBS) $(TEST_DEBS))

_venv-deb:
	$(call ensure_debs,python3-venv)

bench-deps:
	$(call ensure_debs,$(BENCH_DEBS))

$(STAMP): pyproject.toml | system-deps
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/studio up

# The types first (settings in pyproject.toml): a minute at most, and a wrong type fails before the suite runs.
test: $(STAMP)
	$(BIN)/python -m mypy
	$(PYTEST) -q

bench: $(STAMP) bench-deps
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench

faults: $(STAMP)
	$(PYTEST) -q -m faults --run-faults

vm: $(STAMP)
	$(PYTEST) -q -m vm --run-vm

hil: $(STAMP)
	$(PYTEST) -q -m hil

# A second MCP client (the TypeScript SDK) and the MCP conformance suite against
# `studio up` (tests/interop). Needs Node >= 20 and npm; versions pinned in
# tests/interop/package-lock.json.
interop: $(STAMP)
	cd tests/interop && npm ci --no-audit --no-fund
	$(PYTEST) -q -m interop --run-interop tests/interop

clean:
	rm -rf $(VENV) var .pytest_cache build *.egg-info

# The flashable image (image/README.md). Minutes each and root only, so
# none of these is part of `make test`; CI does not run them.
IMAGE_DEBS      := mmdebstrap dosfstools mtools fdisk e2fsprogs gzip gpg
IMAGE_ARM64_DEBS := qemu-user-static binfmt-support arch-test u-boot-tools
IMAGE_TEST_DEBS := qemu-system-x86 ovmf openssh-client mtools fdisk e2fsprogs gpg

.PHONY: image-arm64 image-test-arm64

image: $(STAMP)
	$(call ensure_debs,$(IMAGE_DEBS))
	$(BIN)/python -m image.build --arch amd64 --out image/out

image-arm64: $(STAMP)
	$(call ensure_debs,$(IMAGE_DEBS) $(IMAGE_ARM64_DEBS))
	$(BIN)/python -m image.build --arch arm64 --out image/out

# Boots image/out/studio-amd64.img under qemu through OVMF and systemd-boot
# (built first when missing): the box checks, then an update into slot B and
# a deliberately broken one that must roll back (tests/vm).
image-test: $(STAMP)
	$(call ensure_debs,$(IMAGE_TEST_DEBS))
	test -f image/out/studio-amd64.json || $(MAKE) --no-print-directory image
	$(PYTEST) -q -s -m "vm and not pi" --run-vm tests/vm

# The Pi image on qemu's virt board through U-Boot and its boot script: an
# update and a rollback (tests/vm/test_pi_*). Emulated arm64: about an hour.
image-test-arm64: $(STAMP)
	$(call ensure_debs,$(IMAGE_TEST_DEBS) qemu-system-arm)
	test -f image/out/studio-arm64.json || $(MAKE) --no-print-directory image-arm64
	$(PYTEST) -q -s -m "vm and pi" --run-vm tests/vm
