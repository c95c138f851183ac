"""The boot bench's reading of systemd's CPU accounting for our services."""

from bench.image_boot import cpu_seconds

# As systemd 257 prints it for three units: properties in its own order, a unit without accounting yet.
SHOWN = ("CPUUsageNSec=10321571000\nId=chaosgarden.service\n\nId=hootenanny.service\nCPUUsageNSec=9899540000\n\n"
         "CPUUsageNSec=[not set]\nId=vibeweaver.service\n")


def test_each_unit_gets_its_own_figure_whatever_the_property_order() -> None:
    assert cpu_seconds(SHOWN) == {"chaosgarden_cpu_s": 10.32, "hootenanny_cpu_s": 9.9}


def test_nothing_shown_gives_no_figures() -> None:
    assert cpu_seconds("") == {}
