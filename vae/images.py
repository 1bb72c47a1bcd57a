"""Image helpers for display and download: tiling, PNG and animated GIF bytes, whole-pixel scaling.

Every helper takes grey pictures, (H, W), or colour ones, (H, W, 3) RGB, with values in [0, 1].
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] -> uint8 0..255 (clipped, NaN as black)."""
    return (np.nan_to_num(np.asarray(images, np.float32)).clip(0, 1) * 255 + 0.5).astype(np.uint8)


RGB = 3  # channels of a colour picture, always the last axis


def is_colour(images: np.ndarray) -> bool:
    """Whether a list (N, H, W[, 3]) or grid (R, C, H, W[, 3]) of pictures is in colour.

    Grey pictures are at least 4 pixels wide (vae.config.MIN_IMAGE_SIDE), so a last axis of 3 is colour.
    """
    shape = np.shape(images)
    return len(shape) == 5 or (len(shape) == 4 and shape[-1] == RGB)


def tile(images: np.ndarray, columns: int | None = None, padding: int = 1, fill: float = 1.0) -> np.ndarray:
    """(N, H, W[, 3]) or (R, C, H, W[, 3]) images -> one (rows*(H+p)-p, cols*(W+p)-p[, 3]) picture in [0, 1]."""
    data = np.asarray(images, np.float32)
    colour_axes = data.shape[-1:] if is_colour(data) else ()
    if data.ndim - len(colour_axes) == 4:
        rows, columns = data.shape[:2]
        data = data.reshape(-1, *data.shape[2:])
    else:
        columns = columns or len(data)
        rows = -(-len(data) // max(columns, 1))
    height, width = data.shape[1:3]
    canvas = np.full((rows * (height + padding) - padding, columns * (width + padding) - padding, *colour_axes),
                     fill, np.float32)
    for index, image in enumerate(data):
        top, left = (index // columns) * (height + padding), (index % columns) * (width + padding)
        canvas[top : top + height, left : left + width] = image
    return canvas


DOWNLOAD_LONG_SIDE = 1024  # pixels: the least a downloaded picture measures on its long side (sharp on a slide)


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of a (H, W[, 3]) picture by a whole number, so pixels stay square and crisp."""
    return np.asarray(image).repeat(scale, axis=0).repeat(scale, axis=1)


def download_scale(shape: tuple[int, ...]) -> int:
    """The whole-number enlargement that brings an (H, W) picture to at least DOWNLOAD_LONG_SIDE on its long side."""
    return max(1, math.ceil(DOWNLOAD_LONG_SIDE / max(int(shape[0]), int(shape[1]), 1)))


def screen_scale(shape: tuple[int, ...], width: int) -> int:
    """The largest whole-number enlargement that keeps an (H, W) picture within ``width`` pixels (at least 1)."""
    return max(1, int(width) // max(int(shape[1]), 1))


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A (H, W) grey or (H, W, 3) RGB picture in [0, 1] as PNG file bytes, upscaled by ``scale``."""
    buffer = io.BytesIO()
    Image.fromarray(enlarge(to_uint8(image), scale)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_for_download(image: np.ndarray) -> bytes:
    """A (H, W[, 3]) picture in [0, 1] as PNG, whole pixels enlarged to at least DOWNLOAD_LONG_SIDE on its long side.

    The whole picture (a strip or grid with its padding) is enlarged by one factor, so every source
    pixel becomes a square block of that many screen pixels.
    """
    return png_bytes(image, download_scale(np.shape(image)))


def png_for_screen(image: np.ndarray, width: int) -> tuple[bytes, int]:
    """A (H, W[, 3]) picture in [0, 1] as PNG bytes for the page, and its exact width in pixels.

    Enlarged by the largest whole number that fits ``width``; show it at exactly the returned width
    (``st.image(png, width=shown, output_format="PNG")``) so the browser does not resample it.
    """
    scale = screen_scale(np.shape(image), width)
    return png_bytes(image, scale), scale * int(np.shape(image)[1])


def gif_for_download(frames: np.ndarray, frame_ms: int = 120) -> bytes:
    """(N, H, W[, 3]) frames in [0, 1] as a looping GIF, each frame at least DOWNLOAD_LONG_SIDE on its long side."""
    return gif_bytes(frames, scale=download_scale(np.shape(frames)[1:]), frame_ms=frame_ms)


def gif_bytes(frames: np.ndarray, scale: int = 4, frame_ms: int = 120, bounce: bool = True) -> bytes:
    """(N, H, W[, 3]) frames in [0, 1] as a looping animated GIF; ``bounce`` plays it forth and back.

    A GIF holds at most 256 colours per frame: colour frames get their own palette (PIL's median cut).
    """
    data = list(to_uint8(frames))
    if bounce and len(data) > 2:
        data = data + data[-2:0:-1]
    pictures = [Image.fromarray(enlarge(frame, scale)) for frame in data]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()
