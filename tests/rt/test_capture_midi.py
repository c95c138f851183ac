"""Raw MIDI capture from a FIFO standing in for /dev/snd/midiC*D*: timestamped records, unplug and back."""

import asyncio
import os

from appliance.proto.midi_record import iter_records
from appliance.proto.stream_definition import StreamDefinition
from tests.support.garden import until


def midi_definition(uri: str, device: str) -> StreamDefinition:
    return StreamDefinition.parse({"uri": uri, "device": device, "kind": "midi", "sample_rate": 48000, "channels": 1,
                                   "sample_format": "s16", "chunk_samples": 256, "period_frames": 0})


async def test_midi_records_and_replug(control, short_tmp):
    port = short_tmp / "midiC1D0"
    os.mkfifo(port)
    writer = os.open(port, os.O_RDWR)
    uri = "stream://eurorack/midi"
    await control.start(midi_definition(uri, str(port)))
    rec = control.streams[uri]
    sent = []
    for i in range(40):  # 40 bursts of 3 bytes: several 256-byte chunks
        msg = bytes((0x90, 36 + i % 12, 100))
        os.write(writer, msg)
        sent.append(msg)
        await asyncio.sleep(0.01)
    os.close(writer)  # the port disappears
    await until(lambda: any(e.kind == "deviceLost" for e in rec.errors))
    await until(lambda: any(e.kind == "deviceBack" for e in rec.errors))
    writer = os.open(port, os.O_RDWR)
    later = bytes((0x80, 40, 0))
    os.write(writer, later)
    total = 41 * (20 + 3)  # record header + 3 MIDI bytes each

    async def captured() -> int:
        states = await control.states()
        return sum(n for _f, n, _d in rec.sealed) + states[0].head.byte_position

    for _ in range(1000):
        if await captured() >= total:
            break
        await asyncio.sleep(0.01)
    await control.stop(uri)
    os.close(writer)

    records = list(iter_records(control.recording(uri)))
    assert b"".join(r.data for r in records) == b"".join(sent) + later
    frames = [r.sample for r in records]
    assert frames == sorted(frames) and frames[-1] > frames[0]
    assert len(rec.sealed) >= 3  # 43 records of 23 bytes do not fit one 256-byte chunk
    # Each chunk says which stream samples it covers, as an audio chunk does: from just after the previous
    # chunk's last record, so that hootenanny can join a live chunk to the sealed ones.
    chunks = [(first, [r.sample for r in iter_records(control.store.path(d).read_bytes())])
              for first, _n, d in sorted(rec.sealed)]
    assert chunks[0][0] <= chunks[0][1][0]
    for (_, before), (first, samples) in zip(chunks, chunks[1:]):
        assert first == before[-1] + 1 and samples[0] >= first, (before, first, samples)
