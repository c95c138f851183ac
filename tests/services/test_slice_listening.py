"""stream_slice's ways to hear and read a cut without downloading it: a MIDI window's notes as JSON, and a short
16-bit excerpt of a WAV (the front door is in test_slice_listening_e2e.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from appliance.cas import ContentStore
from appliance.services.slicing.excerpt import wav_excerpt
from appliance.services.slicing.slice_notes import slice_notes
from appliance.services.slicing.slicer import MIME_NOTES
from tests.services.slice_fixtures import StreamBuilder, definition

RATE = 48_000


@pytest.fixture
def store(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "cas")


def test_notes_are_read_from_the_records_with_the_clock_and_kept_as_json(store, tmp_path):
    build = StreamBuilder(store, definition(kind="midi", rate=RATE))
    pulses = [(i * 1000, b"\xf8") for i in range(48)]  # 24 pulses in 24 000 samples: a beat every 0.5 s (120 BPM)
    build.midi_chunk(sorted(pulses + [(6000, b"\x90\x3c\x64"), (12000, b"\x80\x3c\x00"),
                                      (24000, b"\x90\x40\x50\x43\x51")], key=lambda r: r[0]))  # running status
    first = build.manifest.chunks[0].digest
    build.midi_chunk([(60000, b"\x80\x40\x00"), (60001, b"\x80\x43\x00")])  # after the window: not read
    out = tmp_path / "notes.json"
    reports = []
    info, notes = slice_notes(build.manifest, store, 0, 48000, out, lambda done, total: reports.append(done))
    assert [(n.name, n.start_s, n.start_beat, n.duration_s, n.held_past_end) for n in notes] == [
        ("C4", 0.125, pytest.approx(0.25), 0.125, False),
        ("E4", 0.5, pytest.approx(1.0), 0.5, True), ("G4", 0.5, pytest.approx(1.0), 0.5, True)]
    assert json.loads(out.read_bytes()) == {"notes": [n.model_dump(mode="json") for n in notes]}
    assert info.mime == MIME_NOTES and info.bytes == out.stat().st_size and info.sample_range == (0, 48000)
    assert info.source_chunks == [first] and reports[-1] == 48000


def wav(tmp_path: Path, samples: np.ndarray, subtype: str) -> Path:
    path = tmp_path / "cut.wav"
    sf.write(path, samples, RATE, subtype=subtype)
    return path


def test_an_excerpt_is_the_first_seconds_in_16_bit_with_the_channels_of_the_slice(tmp_path):
    t = np.arange(3 * RATE) / RATE
    loud = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 1.5 * np.sin(2 * np.pi * 220 * t), -0.25 + 0 * t], axis=1)
    excerpt = wav_excerpt(wav(tmp_path, loud.astype(np.float32), "FLOAT"), 1.25)
    back, rate = sf.read(io.BytesIO(excerpt), dtype="float64", always_2d=True)
    info = sf.info(io.BytesIO(excerpt))
    assert (rate, info.subtype, info.format, back.shape) == (RATE, "PCM_16", "WAV", (60_000, 3))
    assert np.abs(back[:, 0] - loud[:60_000, 0]).max() < 1e-4
    assert back[:, 1].max() == pytest.approx(1.0, abs=1e-4) and back[:, 1].min() == pytest.approx(-1.0, abs=1e-4)
    assert len(excerpt) < 60_000 * 3 * 2 + 100  # 16-bit: two bytes a sample, and a header


def test_an_excerpt_longer_than_the_slice_is_the_whole_slice(tmp_path):
    samples = (np.arange(1000, dtype=np.int32) << 16).reshape(-1, 1)
    back, _ = sf.read(io.BytesIO(wav_excerpt(wav(tmp_path, samples, "PCM_32"), 30.0)), dtype="int16")
    assert np.array_equal(back, np.arange(1000, dtype=np.int16))
