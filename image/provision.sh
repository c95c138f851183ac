#!/bin/sh
# Runs inside the new rootfs (mmdebstrap customize hook, chrooted) with the
# project wheel in /tmp/studio-build: the studio user, the venv, units, rules
# and the cleanup that makes one image fit every box. It runs with the
# guest's own Python (trixie: 3.13), so compiled dependencies (pyalsaaudio)
# are built for the interpreter that will run them.
set -eu
BUILD=/tmp/studio-build
export DEBIAN_FRONTEND=noninteractive

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
systemctl enable studio.target studio-firstboot.service studio-governor.service \
    systemd-networkd.service ssh.service avahi-daemon.service chrony.service
systemctl set-default multi-user.target >/dev/null

echo "provision: per-box state removed (made by first boot)"
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
echo studio > /etc/hostname
rm -rf "$BUILD"
