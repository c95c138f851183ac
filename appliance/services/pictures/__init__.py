"""Pictures an agent can read: waveform, spectrogram and piano roll as PNGs with real axes, units and labels.

Each module draws one kind from plain numpy arrays and typed values (never a
file or a box type), so slicing, analysis and activity tools all reuse them;
`canvas` holds what they share.
"""
