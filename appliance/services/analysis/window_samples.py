"""A window of a stream as numbers to analyse: audio as float32 samples, MIDI as its records.

Audio is read through the slicer's own block reader (chunks, gaps as
silence, the live edge), so what is analysed is exactly what `stream_slice`
would cut. Integer formats are scaled so that full scale is 1.0, the
convention dBFS figures are stated in.
"""

from __future__ import annotations

import numpy as np

from appliance.cas import ContentStore
from appliance.services.slicing.sample_values import as_float
from appliance.services.slicing.slicer import SlicePlan, pick_channels, read_blocks


def read_audio(plan: SlicePlan, store: ContentStore, channels: list[int]) -> np.ndarray:
    """The window's `channels` as float32, shaped (samples, len(channels)), full scale 1.0."""
    definition = plan.definition
    picked = definition.model_copy(update={"channels": len(channels)})
    out = np.empty((plan.end - plan.start, len(channels)), dtype=np.float32)
    row = 0
    for block in read_blocks(plan, store):
        # Picked as bytes first, as a slice with channels is: the channels not asked for are never converted.
        frames = as_float(bytes(pick_channels(block, definition, channels)), picked)
        out[row:row + len(frames)] = frames
        row += len(frames)
    return out[:row]
