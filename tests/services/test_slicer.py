import json

import mido
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cas import ContentStore
from appliance.proto.midi_record import pack_record
from appliance.services.slicing import slicer
from appliance.services.slicing import audio_writer
from appliance.services.slicing.midi_export import TICKS_PER_SECOND
from appliance.services.slicing.slicer import (
    MIME_MIDI,
    MIME_VIRTUAL,
    MIME_WAV,
    SliceError,
    VirtualSlice,
    materialize_virtual,
    slice_stream,
)
from tests.services.slice_fixtures import StreamBuilder, corrupt, definition, read_back, to_bytes, waveform

FORMATS = ["s16", "s24", "s24in32", "s32", "f32"]


@pytest.fixture
def store(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "cas")


def recorded(store, fmt="s32", frames=5000, channels=2, sizes=1024, seed=0):
    """A stream of `frames` frames of a known waveform in chunks of `sizes`; returns (builder, values)."""
    build = StreamBuilder(store, definition(fmt, channels))
    values = waveform(fmt, frames, channels, seed)
    build.chunks(to_bytes(values, fmt), sizes)
    return build, values


def wav_bytes(path, fmt):
    """The slice's samples read back, re-encoded in the stream's own format for byte comparison."""
    return to_bytes(read_back(path, fmt), fmt)


# -- audio formats -----------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_sample_exact(store, tmp_path, fmt):
    build, values = recorded(store, fmt, frames=3000, sizes=700)
    out = tmp_path / "slice.wav"
    info = slice_stream(build.manifest, store, 0, 3000, out)
    back = read_back(out, fmt)
    if fmt == "f32":
        assert back.dtype == np.float32 and sf.info(str(out)).subtype == "FLOAT"
        assert back.tobytes() == values.astype("<f4").tobytes()  # bit-exact, values past +-1 unclipped
    else:
        np.testing.assert_array_equal(back, values)
    assert info.mime == MIME_WAV and info.frames == 3000 and info.bytes == out.stat().st_size
    assert info.source_chunks == [c.digest for c in build.manifest.chunks]
    assert sf.info(str(out)).subtype == audio_writer.SUBTYPES[build.definition.sample_format][0]


@pytest.mark.parametrize("top", [0x00, 0xFF, 0x5A])
def test_s24in32_container_top_byte_is_ignored_and_sign_extended(store, tmp_path, top):
    values = np.array([[-1, 1], [-(1 << 23), (1 << 23) - 1], [-2, 0x123456]], dtype=np.int64)
    words = (values & 0xFFFFFF) | (top << 24)
    build = StreamBuilder(store, definition("s24in32"))
    build.chunk(words.astype("<u4").tobytes())
    out = tmp_path / "s.wav"
    slice_stream(build.manifest, store, 0, 3, out)
    np.testing.assert_array_equal(read_back(out, "s24in32"), values)


@pytest.mark.parametrize(("start", "end"), [
    (0, 1024), (1024, 2048), (1000, 1100), (1, 4999), (1023, 1025), (2048, 5000), (4999, 5000), (512, 4096),
])
def test_edges_mid_chunk_and_on_boundaries(store, tmp_path, start, end):
    build, values = recorded(store, "s32", frames=5000, sizes=1024)
    out = tmp_path / "s.wav"
    info = slice_stream(build.manifest, store, start, end, out)
    np.testing.assert_array_equal(read_back(out, "s32"), values[start:end])
    touched = [c.digest for c in build.manifest.chunks if c.first_sample < end and c.end_sample > start]
    assert info.source_chunks == touched and info.sample_range == (start, end)


def test_gap_reads_as_silence_in_place(store, tmp_path):
    build = StreamBuilder(store, definition("s16", channels=1))
    a, b = waveform("s16", 1500, 1, 1), waveform("s16", 800, 1, 2)
    build.chunks(to_bytes(a, "s16"), 1000)
    build.gap(700)
    build.chunks(to_bytes(b, "s16"), 1000)
    out = tmp_path / "s.wav"
    slice_stream(build.manifest, store, 1200, 2400, out)
    back = read_back(out, "s16")[:, 0]
    np.testing.assert_array_equal(back[:300], a[1200:, 0])
    assert not back[300:1000].any()
    np.testing.assert_array_equal(back[1000:], b[:200, 0])


def test_slice_reaches_into_live_edge_but_not_past_the_head(store, tmp_path):
    build, values = recorded(store, "s24", frames=2048, sizes=1024)
    tail = waveform("s24", 600, 2, 5)
    build.live(to_bytes(tail, "s24"), unnotified=b"\x7f" * 999)
    assert build.manifest.head_sample == 2648
    out = tmp_path / "s.wav"
    info = slice_stream(build.manifest, store, 2000, 2648, out)
    np.testing.assert_array_equal(read_back(out, "s24"), np.concatenate([values[2000:], tail]))
    assert info.source_chunks == [build.manifest.chunks[-1].digest]
    with pytest.raises(SliceError, match=r"samples 2648\.\.2649 are not recorded yet \(readable up to sample 2648\)"):
        slice_stream(build.manifest, store, 2000, 2649, out)


def test_live_chunk_sealed_meanwhile_is_a_clear_error(store, tmp_path):
    build, _ = recorded(store, "s16", frames=1024)
    edge = build.live(to_bytes(waveform("s16", 100, 2), "s16"))
    store.release(edge.path)
    with pytest.raises(SliceError, match="sealed meanwhile, slice again"):
        slice_stream(build.manifest, store, 1000, 1100, tmp_path / "s.wav")
    assert not list(tmp_path.glob("s.wav*"))


def test_large_slice_is_rf64_when_over_the_wav_limit(store, tmp_path, monkeypatch):
    build, values = recorded(store, "s32", frames=4000, sizes=1024)
    monkeypatch.setattr(audio_writer, "WAV_DATA_LIMIT", 4000 * 8 - 1)
    out = tmp_path / "big.wav"
    slice_stream(build.manifest, store, 0, 4000, out)
    assert sf.info(str(out)).format == "RF64" and out.read_bytes()[:4] == b"RF64"
    np.testing.assert_array_equal(read_back(out, "s32"), values)
    slice_stream(build.manifest, store, 0, 3999, out)
    assert sf.info(str(out)).format == "WAV"


def test_streams_in_blocks_with_progress(store, tmp_path, monkeypatch):
    build, values = recorded(store, "s16", frames=5000, sizes=1024)
    monkeypatch.setattr(slicer, "BLOCK_BYTES", 1000)  # not a multiple of the frame: blocks stay whole frames
    calls = []
    out = tmp_path / "s.wav"
    slice_stream(build.manifest, store, 10, 4990, out, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(read_back(out, "s16"), values[10:4990])
    assert len(calls) > 15 and calls[-1] == (4980, 4980)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# -- integrity ---------------------------------------------------------------

def test_corrupted_chunk_names_its_digest(store, tmp_path):
    """Also on the path that copies chunks by the kernel (s32 as recorded): each is checked before its copy."""
    build, _ = recorded(store, "s32", frames=3000)
    bad = build.manifest.chunks[1].digest
    corrupt(store, bad, at=17)
    with pytest.raises(SliceError, match=f"stream://test/main: chunk {bad} is corrupted"):
        slice_stream(build.manifest, store, 0, 3000, tmp_path / "s.wav")
    assert not list(tmp_path.glob("s.wav*"))
    slice_stream(build.manifest, store, 0, 1024, tmp_path / "s.wav")  # a window not touching it is fine


def test_missing_chunk_names_its_digest(store, tmp_path):
    build, _ = recorded(store, "s32", frames=3000)
    gone = build.manifest.chunks[2].digest
    path = store.path(gone)
    path.chmod(0o644)
    path.unlink()
    with pytest.raises(SliceError, match=f"chunk {gone} is missing from CAS"):
        slice_stream(build.manifest, store, 2000, 2100, tmp_path / "s.wav")


def test_overlapping_chunks_are_named(store, tmp_path):
    build, _ = recorded(store, "s32", frames=3000)
    second = build.manifest.chunks[1]
    build.manifest.chunks[1] = second.model_copy(update={"first_sample": 1000})
    with pytest.raises(SliceError, match=rf"\(samples 0\.\.1024\) overlaps chunk {second.digest} \(samples 1000\.\.2024\)"):
        slice_stream(build.manifest, store, 0, 100, tmp_path / "s.wav")


def test_hole_not_covered_by_a_gap_is_named(store, tmp_path):
    build, _ = recorded(store, "s32", frames=3000)
    del build.manifest.chunks[1]
    with pytest.raises(SliceError, match=r"samples 1024\.\.2048 are in no chunk: released by the stream.s retention"):
        slice_stream(build.manifest, store, 1000, 2100, tmp_path / "s.wav")


def test_chunk_whose_size_disagrees_with_its_frames(store, tmp_path):
    build, _ = recorded(store, "s32", frames=2048)
    build.manifest.chunks[0] = build.manifest.chunks[0].model_copy(update={"bytes": 100})
    with pytest.raises(SliceError, match="claims 1024 frames in 100 bytes"):
        slice_stream(build.manifest, store, 0, 10, tmp_path / "s.wav")


@pytest.mark.parametrize(("start", "end"), [(5, 5), (9, 3), (-1, 4)])
def test_empty_window_is_refused(store, tmp_path, start, end):
    build, _ = recorded(store, "s32", frames=100, sizes=100)
    with pytest.raises(SliceError, match="end must be after start"):
        slice_stream(build.manifest, store, start, end, tmp_path / "s.wav")


# -- virtual slices ------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["s24", "f32"])
def test_virtual_slice_materializes_to_the_same_bytes(store, tmp_path, fmt):
    build = StreamBuilder(store, definition(fmt))
    build.chunks(to_bytes(waveform(fmt, 2500, 2), fmt), 1000)
    build.gap(300)
    build.chunks(to_bytes(waveform(fmt, 900, 2, 3), fmt), 1000)
    direct = slice_stream(build.manifest, store, 700, 3300, tmp_path / "direct.wav")
    info = slice_stream(build.manifest, store, 700, 3300, tmp_path / "v.json", output="virtual")
    assert info.mime == MIME_VIRTUAL and info.bytes == (tmp_path / "v.json").stat().st_size
    virtual = VirtualSlice.model_validate_json((tmp_path / "v.json").read_bytes())
    kinds = [p.kind for p in virtual.pieces]
    assert kinds == ["chunk", "chunk", "chunk", "silence", "chunk"]
    assert virtual.pieces[0].offset == 700 * build.definition.frame_bytes
    later = materialize_virtual(virtual, store, tmp_path / "later.wav")
    assert (tmp_path / "later.wav").read_bytes() == (tmp_path / "direct.wav").read_bytes()
    assert later.source_chunks == direct.source_chunks == info.source_chunks
    assert later.clocks == direct.clocks


def test_virtual_slice_into_the_live_edge_is_refused(store, tmp_path):
    build, _ = recorded(store, "s16", frames=1024)
    build.live(to_bytes(waveform("s16", 100, 2), "s16"))
    with pytest.raises(SliceError, match='use output="materialize" or wait until the chunk is sealed'):
        slice_stream(build.manifest, store, 1000, 1100, tmp_path / "v.json", output="virtual")
    slice_stream(build.manifest, store, 0, 1024, tmp_path / "v.json", output="virtual")


def test_virtual_slice_of_missing_chunk_is_refused(store, tmp_path):
    build, _ = recorded(store, "s16", frames=2048)
    path = store.path(build.manifest.chunks[1].digest)
    path.chmod(0o644)
    path.unlink()
    with pytest.raises(SliceError, match="is missing from CAS"):
        slice_stream(build.manifest, store, 0, 2048, tmp_path / "v.json", output="virtual")


def test_virtual_slice_that_does_not_add_up_is_invalid(store, tmp_path):
    build, _ = recorded(store, "s16", frames=2048)
    slice_stream(build.manifest, store, 0, 2048, tmp_path / "v.json", output="virtual")
    data = json.loads((tmp_path / "v.json").read_bytes())
    data["sample_range"] = [0, 2049]
    with pytest.raises(ValueError, match="do not make 2049 frames"):
        VirtualSlice.model_validate(data)


# -- MIDI --------------------------------------------------------------------

def midi_stream(store):
    build = StreamBuilder(store, definition(kind="midi", rate=48000))
    build.midi_chunk([(100, b"\x90\x3c\x64"), (24000, b"\x80\x3c\x00"), (24000, b"\xf8")])
    build.midi_chunk([(48000, b"\x90\x40\x50\x43\x51"),  # running status: second note without a status byte
                      (60000, b"\xf0\x7e\x00"), (60010, b"\x09\x01\xf7"),  # sysex split over two bursts
                      (72000, b"\xb0\x07\x7f")])
    build.live(pack_record(96000_000, 96000, b"\x80\x40\x00\x43\x00"))
    build.manifest.live = build.manifest.live.model_copy(update={"first_sample": 72001, "head_sample": 100000})
    return build


def test_midi_slice_is_an_smf_with_events_at_their_times(store, tmp_path):
    build = midi_stream(store)
    out = tmp_path / "s.mid"
    info = slice_stream(build.manifest, store, 12000, 100000, out)
    assert info.mime == MIME_MIDI and info.source_chunks == [c.digest for c in build.manifest.chunks]
    smf = mido.MidiFile(out)
    assert smf.type == 0 and smf.ticks_per_beat == 480
    tick, events = 0, []
    for msg in smf.tracks[0]:
        tick += msg.time
        events.append((tick, msg))
    assert events[0][1].type == "set_tempo" and events[0][1].tempo == 500_000
    body = [(t, m.bytes()) for t, m in events[1:-1]]
    per_frame = TICKS_PER_SECOND / 48000
    assert body == [
        (round(12000 * per_frame), [0x80, 0x3C, 0x00]),
        (round(36000 * per_frame), [0x90, 0x40, 0x50]),
        (round(36000 * per_frame), [0x90, 0x43, 0x51]),
        (round(48010 * per_frame), [0xF0, 0x7E, 0x00, 0x09, 0x01, 0xF7]),
        (round(60000 * per_frame), [0xB0, 0x07, 0x7F]),
        (round(84000 * per_frame), [0x80, 0x40, 0x00]),
        (round(84000 * per_frame), [0x80, 0x43, 0x00]),
    ]
    assert events[-1][1].type == "end_of_track" and events[-1][0] == round(88000 * per_frame)
    assert abs(smf.length - 88000 / 48000) < 1e-9


def test_midi_window_excludes_events_outside(store, tmp_path):
    build = midi_stream(store)
    out = tmp_path / "s.mid"
    slice_stream(build.manifest, store, 100, 24000, out)
    notes = [m for m in mido.MidiFile(out).tracks[0] if not m.is_meta]
    assert [(m.type, m.time) for m in notes] == [("note_on", 0)]


def test_midi_virtual_slice_equals_direct(store, tmp_path):
    build = midi_stream(store)
    build.manifest.live = None
    slice_stream(build.manifest, store, 50, 70000, tmp_path / "direct.mid")
    slice_stream(build.manifest, store, 50, 70000, tmp_path / "v.json", output="virtual")
    virtual = VirtualSlice.model_validate_json((tmp_path / "v.json").read_bytes())
    materialize_virtual(virtual, store, tmp_path / "later.mid")
    assert (tmp_path / "later.mid").read_bytes() == (tmp_path / "direct.mid").read_bytes()


def test_midi_corrupted_chunk_is_detected(store, tmp_path):
    build = midi_stream(store)
    bad = build.manifest.chunks[0].digest
    corrupt(store, bad, at=25)
    with pytest.raises(SliceError, match=f"chunk {bad} is corrupted"):
        slice_stream(build.manifest, store, 0, 30000, tmp_path / "s.mid")


# -- lineage -----------------------------------------------------------------

def test_clocks_inside_and_nearest_either_side(store, tmp_path):
    build, _ = recorded(store, "s16", frames=5000, sizes=1000)
    info = slice_stream(build.manifest, store, 1500, 3500, tmp_path / "s.wav")
    assert [c.sample for c in info.clocks] == [1000, 2000, 3000, 4000]


# -- property ----------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_chunking_and_window_slices_to_the_source_bytes(tmp_path_factory, data):
    store = ContentStore(tmp_path_factory.mktemp("cas"))
    channels = data.draw(st.integers(1, 3))
    build = StreamBuilder(store, definition("s16", channels))
    sizes = data.draw(st.lists(st.integers(1, 300), min_size=1, max_size=8))
    for size in sizes:
        kind = data.draw(st.sampled_from(["chunk", "chunk", "gap"]))
        if kind == "gap":
            build.gap(size)
        else:
            build.chunk(to_bytes(waveform("s16", size, channels, size), "s16"))
    if data.draw(st.booleans()):
        build.live(to_bytes(waveform("s16", data.draw(st.integers(1, 200)), channels, 9), "s16"), b"\x01" * 7)
    head = build.manifest.head_sample
    start = data.draw(st.integers(0, head - 1))
    end = data.draw(st.integers(start + 1, head))
    block = data.draw(st.sampled_from([2, 6, 64, 1 << 20]))
    out = store.root / "s.wav"
    old, slicer.BLOCK_BYTES = slicer.BLOCK_BYTES, block
    try:
        slice_stream(build.manifest, store, start, end, out)
    finally:
        slicer.BLOCK_BYTES = old
    assert wav_bytes(out, "s16") == build.window(start, end)


def test_virtual_slice_digests_must_be_digests(store, tmp_path):
    build, _ = recorded(store, "s16", frames=2048)
    slice_stream(build.manifest, store, 0, 2048, tmp_path / "v.json", output="virtual")
    data = json.loads((tmp_path / "v.json").read_bytes())
    data["pieces"][0]["digest"] = "../../etc/passwd"
    with pytest.raises(ValueError, match="pieces.0.chunk.digest"):
        VirtualSlice.model_validate(data)


# -- the kernel's copy -------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_slice_copied_by_the_kernel_is_the_file_the_writer_makes(store, tmp_path, monkeypatch, fmt):
    """Chunks, a gap and the live edge: copy_file_range and libsndfile give one file, byte for byte."""
    build = StreamBuilder(store, definition(fmt, channels=2))
    build.chunks(to_bytes(waveform(fmt, 1500, 2, 1), fmt), 1000)
    build.gap(700)
    build.chunks(to_bytes(waveform(fmt, 800, 2, 2), fmt), 1000)
    build.live(to_bytes(waveform(fmt, 300, 2, 3), fmt))
    copied = tmp_path / "copied.wav"
    slice_stream(build.manifest, store, 200, 3200, copied)
    from appliance.services.slicing import audio_writer

    monkeypatch.setattr(audio_writer, "wav_header", lambda definition, frames: None)  # the writer's own path
    written = tmp_path / "written.wav"
    slice_stream(build.manifest, store, 200, 3200, written)
    assert copied.read_bytes() == written.read_bytes()

