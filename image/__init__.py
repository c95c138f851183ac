"""The flashable studio box image: build it (`python -m image.build`) and boot it under qemu (`image.boot_test`)."""
