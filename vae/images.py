"""Image helpers for display and download: tiling, PNG and animated GIF bytes."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] -> uint8 0..255 (clipped, NaN as black)."""
    return (np.nan_to_num(np.asarray(images, np.float32)).clip(0, 1) * 255 + 0.5).astype(np.uint8)


def tile(images: np.ndarray, columns: int | None = None, padding: int = 1, fill: float = 1.0) -> np.ndarray:
    """(N, H, W) or (R, C, H, W) images -> one (rows*(H+p)-p, cols*(W+p)-p) picture in [0, 1]."""
    data = np.asarray(images, np.float32)
    if data.ndim == 4:
        rows, columns = data.shape[:2]
        data = data.reshape(-1, *data.shape[2:])
    else:
        columns = columns or len(data)
        rows = -(-len(data) // max(columns, 1))
    height, width = data.shape[1:]
    canvas = np.full((rows * (height + padding) - padding, columns * (width + padding) - padding), fill, np.float32)
    for index, image in enumerate(data):
        top, left = (index // columns) * (height + padding), (index % columns) * (width + padding)
        canvas[top : top + height, left : left + width] = image
    return canvas


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of a (H, W) picture, so pixels stay crisp."""
    return np.kron(np.asarray(image), np.ones((scale, scale), dtype=np.asarray(image).dtype))


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A (H, W) picture in [0, 1] as PNG file bytes, upscaled by ``scale``."""
    buffer = io.BytesIO()
    Image.fromarray(enlarge(to_uint8(image), scale)).save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: np.ndarray, scale: int = 4, frame_ms: int = 120, bounce: bool = True) -> bytes:
    """(N, H, W) frames in [0, 1] as a looping animated GIF; ``bounce`` plays it forth and back."""
    data = list(to_uint8(frames))
    if bounce and len(data) > 2:
        data = data + data[-2:0:-1]
    pictures = [Image.fromarray(enlarge(frame, scale)) for frame in data]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()
