"""chaosgarden (`studio rt`): realtime ALSA capture into mmap'd chunks, the beat clock and playback.

Runs as its own process. Its capture threads never block, allocate or log.
"""
