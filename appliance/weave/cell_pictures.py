"""A cell's last value as a picture: a PIL image, a matplotlib figure or one of the box's analysis pictures.

`weave_eval` returns it as MCP image content (PNG) beside the structured
result, so an agent sees the plot it drew as a person at a notebook would.
Pictures are bounded before they are drawn where the size is known first
(a figure's inches × dpi, an image's pixels), so a huge one is refused
without spending seconds and memory on encoding it.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PIL import Image

from appliance.picture import Picture

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Both sides up to 4000 px, as stream_analyze's pictures; a model scales anything bigger down anyway.
MAX_SIDE_PX = 4000
# 3 MiB of PNG is 4 MiB as base64 in the MCP answer: under the 5 MB per image that model APIs commonly take.
MAX_PNG_BYTES = 3 * 1024 * 1024
# The modes PNG stores as they are; any other (CMYK, F, YCbCr, ...) is converted to RGBA first.
PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})
RESIZE_HINT = "make it smaller (a figure: figsize or dpi; an image: resize or thumbnail)"


class PictureRefused(Exception):
    """The value is a picture, but too big to return, or it failed to draw; the message says which and why."""


def cell_picture(value: Any) -> Picture | None:
    """The picture `value` shows, as PNG; None when it is not a picture. PictureRefused when it cannot be returned."""
    if isinstance(value, Picture):
        picture = value
    elif isinstance(value, Image.Image):
        picture = _drawn("PIL image", lambda: _pil_png(value))
    elif (figure := _figure(value)) is not None:
        picture = _drawn("matplotlib figure", lambda: _figure_png(figure))
    else:
        return None
    _check_side(picture.width, picture.height, "picture")
    if len(picture.png) > MAX_PNG_BYTES:
        raise PictureRefused(f"the cell's picture is {len(picture.png) / 2**20:.1f} MiB as PNG; weave_eval returns "
                             f"pictures up to {MAX_PNG_BYTES / 2**20:g} MiB: {RESIZE_HINT}, or make it simpler")
    return picture


def _figure(value: Any) -> Figure | None:
    """`value` if it is a matplotlib figure; matplotlib is not imported for cells that never imported it."""
    if "matplotlib.figure" not in sys.modules:
        return None
    from matplotlib.figure import Figure

    return value if isinstance(value, Figure) else None


def _drawn(what: str, draw: Callable[[], Picture]) -> Picture:
    """Run `draw`, turning a failure to draw into a refusal: the cell itself succeeded."""
    try:
        picture = draw()
    except PictureRefused:
        raise
    except Exception as exc:  # any drawing error of the user's figure or image
        raise PictureRefused(f"the cell's {what} could not be drawn as PNG: {type(exc).__name__}: {exc}") from None
    return picture


def _pil_png(image: Image.Image) -> Picture:
    _check_side(image.width, image.height, "PIL image")
    if image.mode not in PNG_MODES:
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Picture.from_png(out.getvalue())


def _figure_png(figure: Figure) -> Picture:
    width, height = figure.get_size_inches() * figure.dpi
    _check_side(round(width), round(height), "matplotlib figure")
    out = io.BytesIO()
    # Agg whatever the figure's own canvas: no display, and the same pixels on every box.
    figure.savefig(out, format="png", dpi=figure.dpi, backend="agg")
    if "matplotlib.pyplot" in sys.modules:
        # pyplot keeps every figure it made until closed, and a kernel runs for days: once shown, the figure is
        # closed, as a notebook does. The cell's own reference (`fig`, `_`) still draws and saves.
        import matplotlib.pyplot

        matplotlib.pyplot.close(figure)
    return Picture.from_png(out.getvalue())


def _check_side(width: int, height: int, what: str) -> None:
    if width > MAX_SIDE_PX or height > MAX_SIDE_PX:
        raise PictureRefused(f"the cell's {what} is {width}x{height} px; weave_eval returns pictures up to "
                             f"{MAX_SIDE_PX}x{MAX_SIDE_PX} px: {RESIZE_HINT}")
