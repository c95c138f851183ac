"""chaosgarden (`studio rt`): realtime ALSA capture into mmap'd chunks, the beat clock and playback.

Runs as its own process. Its capture threads never block, allocate or log.
"""

import os

# chaosgarden uses numpy for sample conversion, never for linear algebra, yet numpy's OpenBLAS starts a thread
# per core at import, each with a 32 MiB buffer; chaosgarden locks all its memory, so on a 4-core Pi that was
# some 120 MiB of RAM locked for nothing. Set before any rt module imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
