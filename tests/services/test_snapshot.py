"""A slice that reaches into the live chunk survives that chunk being sealed while it reads."""

import soundfile as sf

from appliance.cas import ContentStore
from appliance.config import load_config
from appliance.services.store.catalog import open_catalog
from appliance.services.capture.manifest import LiveEdge
from appliance.services.slicing.slicer import slice_stream
from appliance.services.capture.streams import StreamService

FRAMES = 4800


def test_live_chunk_sealed_mid_slice_is_still_read(tmp_path):
    store = ContentStore(tmp_path / "cas")
    config = load_config(files=(), environ={"STUDIO_DATA_DIR": str(tmp_path)})
    streams = StreamService(open_catalog(tmp_path / "catalog.db"), store, None, config, lambda *_: None)
    uri = "stream://live/edge"
    streams.create({"uri": uri, "device": "sim", "sample_format": "s16", "channels": 1, "chunk_samples": 9600})
    live = store.create_staging()
    data = (bytes(range(256)) * 40)[: FRAMES * 2]
    live.path.write_bytes(data)
    streams.recorder(uri).manifest.live = LiveEdge(path=str(live.path), first_sample=0, head_sample=FRAMES,
                                                    head_bytes=len(data))
    with streams.snapshot(uri) as manifest:
        store.seal(live.path)  # hootenanny seals the chunk: its staging name is gone now
        assert not live.path.exists()
        slice_stream(manifest, store, 0, FRAMES, tmp_path / "out.wav")
    samples, _ = sf.read(tmp_path / "out.wav", dtype="int16")
    assert samples.tobytes() == data


def test_snapshot_of_a_live_chunk_already_sealed_drops_the_edge(tmp_path):
    store = ContentStore(tmp_path / "cas")
    config = load_config(files=(), environ={"STUDIO_DATA_DIR": str(tmp_path)})
    streams = StreamService(open_catalog(tmp_path / "catalog.db"), store, None, config, lambda *_: None)
    uri = "stream://live/gone"
    streams.create({"uri": uri, "device": "sim"})
    streams.recorder(uri).manifest.live = LiveEdge(path=str(tmp_path / "gone"), first_sample=0, head_sample=10,
                                                    head_bytes=80)
    with streams.snapshot(uri) as manifest:
        assert manifest.live is None
    assert streams.recorder(uri).manifest.live is not None  # the service's own manifest is untouched
