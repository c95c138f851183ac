#!/bin/sh
# Runs inside the new rootfs (mmdebstrap customize hook, chrooted) with the
# project wheel in /tmp/studio-build: the studio user, the venv, units, rules
# and the cleanup that makes one image fit every box. It runs with the
# guest's own Python (trixie: 3.13), so compiled dependencies (pyalsaaudio)
# are built for the interpreter that will run them.
set -eu
BUILD=/tmp/studio-build
export DEBIAN_FRONTEND=noninteractive

# pip below needs DNS: the build host's resolver for now (a package's postinst
# may have replaced the copy mmdebstrap made), the box's own at the end.
rm -f /etc/resolv.conf
cp "$BUILD/resolv.conf" /etc/resolv.conf

echo "provision: user studio (groups audio, systemd-journal)"
useradd --system --create-home --home-dir /home/studio --shell /bin/bash \
    --user-group --groups audio,systemd-journal studio

echo "provision: /opt/studio/venv with the project wheel and its PyPI dependencies"
python3 -m venv /opt/studio/venv
# The build host's CA bundle, for builds behind a TLS-intercepting proxy; it
# is deleted with $BUILD and never reaches the image's trust store. pip 25
# checks through the system store unless both variables name the bundle.
# The host's own pip settings (local wheel folders) mean nothing in here.
env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONFIG_FILE \
    PIP_CERT="$BUILD/ca-bundle.crt" SSL_CERT_FILE="$BUILD/ca-bundle.crt" PIP_CONFIG_FILE=/dev/null \
    /opt/studio/venv/bin/pip install --no-cache-dir --disable-pip-version-check --progress-bar off \
    "$BUILD"/studio_appliance-*.whl
cp "$BUILD/README.md" /opt/studio/README.md
/opt/studio/venv/bin/studio --help >/dev/null

echo "provision: build-only packages removed (compilers, headers)"
apt-get purge -y -qq --autoremove gcc libc6-dev python3-dev libasound2-dev >/dev/null
apt-get clean

echo "provision: units enabled"
systemctl enable studio.target studio-firstboot.service studio-governor.service studio-good-boot.service \
    systemd-networkd.service systemd-resolved.service ssh.service avahi-daemon.service chrony.service
systemctl set-default multi-user.target >/dev/null
# Wi-Fi starts when wlan0 appears (not with multi-user.target, which would wait
# for a device most NUCs never have) and only once first boot configured it.
mkdir -p /etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants
ln -sf /usr/lib/systemd/system/wpa_supplicant@.service \
    /etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants/wpa_supplicant@wlan0.service
# The root is read-only and replaced whole by an update: apt's timers and
# dpkg's backups have nothing to do on the box.
systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer

echo "provision: initramfs with the data partition's mount (scripts/local-bottom/studio-data) and fsck.ext4"
update-initramfs -u -k all

echo "provision: per-box state removed (made by first boot, on the data partition)"
rm -f /etc/ssh/ssh_host_*
rm -f /var/lib/dbus/machine-id
ln -sfn ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
rm -rf "$BUILD"
# /etc and /var are up to date with /usr: on the read-only root, the units
# that would rebuild caches in /etc (ConditionNeedsUpdate=) have nothing to do.
/usr/lib/systemd/systemd-update-done
