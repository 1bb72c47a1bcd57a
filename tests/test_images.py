"""Pictures for screens and slides (vae.images): whole-pixel scaling, downloads of at least 1024 px."""
import io
import math

import numpy as np
import pytest
from PIL import Image

from vae import images

# (H, W) of pictures the app makes: one 28x28 or 8x8 image, a 10-step strip, a 20x20 map, a pair, odd sizes
SHAPES = [(28, 28), (8, 8), (28, 289), (579, 579), (28, 57), (1, 1), (3, 1000), (1023, 5), (1024, 1024), (1500, 40)]


def random_picture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def decode(data: bytes) -> Image.Image:
    """Open PNG or GIF bytes with PIL, checking the format by the file's own signature."""
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def quantised(picture: np.ndarray) -> np.ndarray:
    """The grey levels 0..255 a picture in [0, 1] should have (round to nearest), as int16 for differences."""
    return np.rint(np.clip(np.nan_to_num(picture.astype(np.float64)), 0, 1) * 255).astype(np.int16)


def assert_whole_pixel_enlargement(enlarged: np.ndarray, picture: np.ndarray) -> int:
    """``enlarged`` is ``picture`` with each pixel a uniform k x k block (grey levels within 1); returns k."""
    height, width = picture.shape
    scale = enlarged.shape[0] // height
    assert enlarged.shape == (height * scale, width * scale)
    corners = enlarged[::scale, ::scale]  # every k-th pixel: the picture again, if the blocks are uniform
    assert np.abs(corners.astype(np.int16) - quantised(picture)).max() <= 1  # rounding of x.5 may differ
    blocks = corners.repeat(scale, axis=0).repeat(scale, axis=1)
    np.testing.assert_array_equal(enlarged, blocks)  # every pixel of each block equals its corner
    return scale


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_download_png_is_at_least_1024_on_its_long_side_with_square_pixels(shape):
    picture = random_picture(shape)
    png = images.png_for_download(picture)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = decode(png)
    assert decoded.format == "PNG"
    width, height = decoded.size
    assert max(width, height) >= 1024
    scale = assert_whole_pixel_enlargement(np.asarray(decoded), picture)
    assert scale == math.ceil(1024 / max(shape))  # the smallest whole factor that reaches 1024
    assert scale == 1 or max(shape) * (scale - 1) < 1024


def test_download_png_keeps_the_padding_of_a_strip_in_scale():
    frames = random_picture((5, 28, 28))
    strip = images.tile(frames, columns=5, padding=1, fill=1.0)  # (28, 144): white 1-px lines between steps
    decoded = np.asarray(decode(images.png_for_download(strip)))
    scale = math.ceil(1024 / 144)
    assert decoded.shape == (28 * scale, 144 * scale)
    for gap in range(1, 5):  # each padding line is `scale` pixels wide and white
        left = gap * 29 - 1
        assert (decoded[:, left * scale : (left + 1) * scale] == 255).all()


@pytest.mark.parametrize("width", [320, 150, 140, 880, 560, 57])
@pytest.mark.parametrize("shape", [(28, 28), (8, 8), (28, 57), (28, 289), (463, 260), (28, 927)])
def test_screen_png_is_a_whole_pixel_enlargement_that_fits(shape, width):
    picture = random_picture(shape, seed=1)
    png, shown_width = images.png_for_screen(picture, width)
    decoded = decode(png)
    assert decoded.format == "PNG"
    assert decoded.size[0] == shown_width  # the width the page gives st.image, so nothing resamples it
    scale = assert_whole_pixel_enlargement(np.asarray(decoded), picture)
    if shape[1] <= width:
        assert shown_width <= width < shown_width + shape[1]  # the largest whole factor that fits
    else:
        assert scale == 1  # wider than the space: shown at its own size, never shrunk by a fraction


def test_pictures_with_nan_or_out_of_range_values_still_encode():
    picture = np.array([[np.nan, -1.0], [2.0, 0.5]], np.float32)
    decoded = np.asarray(decode(images.png_for_download(picture)))
    np.testing.assert_array_equal(decoded[::512, ::512], [[0, 0], [255, 128]])


@pytest.mark.slow
def test_download_gif_frames_are_at_least_1024_with_square_pixels():
    frames = random_picture((4, 28, 20))
    gif = decode(images.gif_for_download(frames, frame_ms=100))
    assert gif.format == "GIF"
    assert gif.n_frames == 4 + 2  # forth and back: 0 1 2 3 2 1
    scale = math.ceil(1024 / 28)
    assert gif.size == (20 * scale, 28 * scale)
    for number, source in enumerate([0, 1, 2, 3, 2, 1]):
        gif.seek(number)
        assert_whole_pixel_enlargement(np.asarray(gif.convert("L")), frames[source])
