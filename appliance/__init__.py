"""The studio box: capture (rt), control plane (services), kernel (weave).

`rt`, `services` and `weave` are the three processes; each imports the shared
packages (`proto`, `cas`, `config`, `logs`) and never another process package.
"""

__version__ = "0.1.0"
