"""A cell's last value as a picture: which values are pictures, their PNG, and the bounds on their size."""

import io

import pytest
from matplotlib.figure import Figure
from PIL import Image

from appliance.picture import Picture
from appliance.weave.cell_pictures import MAX_PNG_BYTES, MAX_SIDE_PX, PictureRefused, cell_picture


def decoded(picture: Picture) -> Image.Image:
    image = Image.open(io.BytesIO(picture.png))
    assert image.format == "PNG" and image.size == (picture.width, picture.height)
    return image


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK", "F"])
def test_a_pil_image_of_any_mode_becomes_a_png_of_its_size(mode):
    picture = cell_picture(Image.new(mode, (30, 20)))
    assert picture is not None and (picture.width, picture.height) == (30, 20)
    decoded(picture)


def test_a_matplotlib_figure_is_drawn_at_its_size_and_dpi():
    figure = Figure(figsize=(4, 2), dpi=100)
    figure.subplots().plot([1, 3, 2])
    picture = cell_picture(figure)
    assert picture is not None and (picture.width, picture.height) == (400, 200)
    assert decoded(picture).getcolors(maxcolors=2) is None  # a plot was drawn, not a blank canvas


def test_a_pyplot_figure_is_closed_once_shown_and_can_still_be_saved():
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2])
    assert cell_picture(figure) is not None
    assert figure.number not in plt.get_fignums()  # pyplot no longer holds it, as a notebook does
    assert cell_picture(figure) is not None


def test_an_analysis_picture_is_shown_as_it_is():
    picture = cell_picture(Image.new("RGB", (8, 8)))
    assert picture is not None
    analysis = Picture.from_png(picture.png, "spectrogram")
    assert cell_picture(analysis) is analysis
    assert repr(analysis) == f"<Picture spectrogram 8x8 PNG, {len(picture.png)} bytes>"


@pytest.mark.parametrize("value", [None, 42, "text", b"\x89PNG", [Image.new("RGB", (2, 2))]])
def test_other_values_are_not_pictures(value):
    assert cell_picture(value) is None


@pytest.mark.parametrize(("value", "expected"), [
    (Image.new("L", (MAX_SIDE_PX + 1, 10)), f"PIL image is {MAX_SIDE_PX + 1}x10 px; weave_eval returns pictures "
                                            f"up to {MAX_SIDE_PX}x{MAX_SIDE_PX} px"),
    (Figure(figsize=(50, 5), dpi=100), "matplotlib figure is 5000x500 px"),
    (Picture(b"\x89PNG" * (MAX_PNG_BYTES // 4 + 1), 10, 10), "picture is 3.0 MiB as PNG; weave_eval returns pictures "
                                                             "up to 3 MiB"),
])
def test_a_picture_too_big_is_refused_naming_the_limit(value, expected):
    with pytest.raises(PictureRefused, match="make it smaller") as refused:
        cell_picture(value)
    assert expected in str(refused.value)


def test_a_figure_that_fails_to_draw_is_refused_with_its_error():
    figure = Figure()
    figure.text(0.5, 0.5, r"$\frac$")  # bad mathtext: fails only when drawn
    with pytest.raises(PictureRefused, match="matplotlib figure could not be drawn as PNG: ValueError"):
        cell_picture(figure)


def test_from_png_refuses_what_is_not_a_png():
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    with pytest.raises(ValueError, match="a JPEG image, not a PNG"):
        Picture.from_png(jpeg.getvalue())
    with pytest.raises(ValueError, match="not an image"):
        Picture.from_png(b"nope")
