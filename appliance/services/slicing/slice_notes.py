"""A window of a MIDI stream as notes JSON: `stream_slice` with output 'notes'.

The notes are read from the chunk records themselves, not from a cut
Standard MIDI File: the file drops the MIDI clock, and `start_beat` is
counted on it. They are kept as an artifact of their own (`{"notes": [...]}`,
every note of the window) so they can be referred to like any slice, with
the same lineage; the tool's result lists the first of them.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.cas import ContentStore
from appliance.services.capture.manifest import Manifest
from appliance.services.results import ResultModel
from appliance.services.slicing.midi_export import recorded_messages
from appliance.services.slicing.note_pairing import Note, played_notes
from appliance.services.slicing.slicer import MIME_NOTES, Progress, SliceInfo, plan_slice, read_records, slice_info


class NotesFile(ResultModel):
    """The artifact's content."""

    notes: list[Note]


def slice_notes(manifest: Manifest, store: ContentStore, start: int, end: int, out_path: Path,
                progress: Progress | None = None) -> tuple[SliceInfo, list[Note]]:
    """Write the notes starting in samples [start, end) of a MIDI stream to `out_path` as JSON; return them too."""
    plan = plan_slice(manifest, start, end)
    messages = recorded_messages(read_records(plan, store, progress))
    notes = played_notes(messages, start, end, plan.definition.sample_rate).notes
    if progress is not None:  # pairing stops reading at the window's end, before the last chunk may be done
        progress(end - start, end - start)
    data = NotesFile(notes=notes).model_dump_json().encode()
    partial = out_path.with_name(out_path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, out_path)
    return slice_info(plan, MIME_NOTES, len(data)), notes
