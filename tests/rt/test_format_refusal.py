"""What ALSA grants is checked against what the stream asked for, and a mismatch is refused by name."""

import subprocess
import sys

from tests.support.alsa import PCM_NAME, write_asoundrc

CHECK = f"""
import alsaaudio
from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sources import AlsaPcmSource, AudioSpec, FormatRefused
granted = alsaaudio.PCM(type=alsaaudio.PCM_CAPTURE, device="{PCM_NAME}", rate=44100, channels=2,
                        format=alsaaudio.PCM_FORMAT_S16_LE, periodsize=512, periods=4)
source = AlsaPcmSource(AudioSpec("{PCM_NAME}", 48000, 2, SampleFormat.S16, 256))
try:
    source._check_granted(granted)
except FormatRefused as exc:
    print(exc)
"""


def test_mismatch_between_asked_and_granted_is_refused(short_tmp):
    infile = short_tmp / "in.raw"
    infile.write_bytes(bytes(4096))
    env = write_asoundrc(short_tmp, infile)
    out = subprocess.run([sys.executable, "-c", CHECK], env={"PATH": "/usr/bin:/bin", **env},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    message = out.stdout.strip()
    assert message.startswith(f"ALSA PCM '{PCM_NAME}' refused the stream format:")
    assert "rate 48000 asked, 44100 granted" in message
    assert "period_size 256 asked, 512 granted" in message
    assert "channels" not in message  # only what differs is named
