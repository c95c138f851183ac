"""The box's memory of its recordings: an activity index per stream, kept after the audio is released."""
