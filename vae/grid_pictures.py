"""Grids and strips of decoded pictures with their code values written beside them: PIL for downloads, plotly on
the page (no torch)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

from vae.images import enlarge, png_bytes, to_uint8
from vae.plots import png_data_uri

LABEL_CANVAS_PX = 512  # a small grid is enlarged by a whole number to about this size before labels are written
FONT_PX = 12  # least label height on that canvas; a download enlarges it 2-3 times (24-36 px on a 1024+ px picture)
FONT_SHARE = 1 / 48  # labels of a large grid (big images) grow with it: about 2% of its long side
GAP_PX = 4  # least space between the pictures, the labels and the axis titles
FIGURE_WIDTH_PX = 620  # the page's figure: its width, and the height it may take for a square grid
TICK_GAP = 2  # labels closer than this many pixels would touch: only every k-th is written then


def value_label(value: float) -> str:
    """A code value as the axes show it: at most two decimals, no trailing zeros ("-1.64", "0.5", "3")."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def tile_centres(count: int, side: int, padding: int = 1) -> np.ndarray:
    """Pixel centres (count,) of the tiles of a row or column laid out by vae.images.tile (``side`` px each)."""
    return np.arange(count) * (side + padding) + (side - 1) / 2.0


def labelled_picture(
    picture: np.ndarray, tile_shape: tuple[int, int], x_labels: Sequence[str], y_labels: Sequence[str] = (),
    x_title: str = "", y_title: str = "",
) -> np.ndarray:
    """A tiled (H, W) grey or (H, W, 3) colour picture in [0, 1] with a label under each column and left of each row:
    (H', W') or (H', W', 3) in [0, 1], black labels on white.

    Small grids are first enlarged by a whole number (to about LABEL_CANVAS_PX), so the result is still
    made of square pixel blocks and a download enlarges it again by a whole number. ``y_labels`` are
    given top row first; without them only the columns are labelled (a strip).
    """
    grid = to_uint8(picture)
    scale = max(1, LABEL_CANVAS_PX // max(grid.shape[:2]))
    big = enlarge(grid, scale)
    font_px = max(FONT_PX, round(max(big.shape[:2]) * FONT_SHARE))
    font, gap = ImageFont.load_default(font_px), max(GAP_PX, font_px // 3)
    x_stamps = [_text_stamp(label, font) for label in x_labels]
    rotate_x = any(stamp.width > (tile_shape[1] + 1) * scale - TICK_GAP for stamp in x_stamps)
    if rotate_x:
        x_stamps = [stamp.rotate(90, expand=True) for stamp in x_stamps]
    y_stamps = [_text_stamp(label, font) for label in y_labels]
    x_title_stamp = _text_stamp(x_title, font) if x_title else None
    y_title_stamp = _text_stamp(y_title, font).rotate(90, expand=True) if y_title else None
    left = gap + max([stamp.width for stamp in y_stamps], default=0) + gap
    left += (y_title_stamp.width + gap) if y_title_stamp else 0
    band = max([stamp.height for stamp in x_stamps], default=0)
    bottom = gap + band + gap + ((x_title_stamp.height + gap) if x_title_stamp else 0)
    right = gap + max([stamp.width // 2 for stamp in x_stamps], default=0)
    mode = "RGB" if big.ndim == 3 else "L"  # a grey canvas would turn a colour grid grey as it is pasted
    canvas = Image.new(mode, (left + big.shape[1] + right, gap + big.shape[0] + bottom), (255,) * len(mode))
    canvas.paste(Image.fromarray(big), (left, gap))
    x_centres = left + (tile_centres(len(x_stamps), tile_shape[1]) + 0.5) * scale
    _paste_along(canvas, x_stamps, x_centres, gap + big.shape[0] + gap, across=True)
    y_centres = gap + (tile_centres(len(y_stamps), tile_shape[0]) + 0.5) * scale
    _paste_along(canvas, y_stamps, y_centres, left - gap, across=False)
    if x_title_stamp:
        canvas.paste(x_title_stamp, (left + (big.shape[1] - x_title_stamp.width) // 2, canvas.height - gap
                                     - x_title_stamp.height))
    if y_title_stamp:
        canvas.paste(y_title_stamp, (gap, gap + (big.shape[0] - y_title_stamp.height) // 2))
    return np.asarray(canvas, np.float32) / 255.0


def _text_stamp(text: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    """Black text on white, cropped to the text's box."""
    box = font.getbbox(text)
    stamp = Image.new("L", (max(1, box[2] - box[0]), max(1, box[3] - box[1])), 255)
    ImageDraw.Draw(stamp).text((-box[0], -box[1]), text, font=font, fill=0)
    return stamp


def _paste_along(canvas: Image.Image, stamps: list[Image.Image], centres: np.ndarray, edge: int, across: bool) -> None:
    """Paste labels centred on ``centres``: under the grid from ``edge`` (across), or ending at ``edge`` (rows).

    When neighbours would touch, only every k-th label is written (the first and the step stay readable).
    """
    if not stamps:
        return
    extent = max(stamp.width if across else stamp.height for stamp in stamps)
    pitch = float(centres[1] - centres[0]) if len(centres) > 1 else math.inf
    every = max(1, math.ceil((extent + TICK_GAP) / pitch))
    for index in range(0, len(stamps), every):
        stamp, centre = stamps[index], float(centres[index])
        if across:
            canvas.paste(stamp, (int(round(centre - stamp.width / 2)), edge))
        else:
            canvas.paste(stamp, (edge - stamp.width, int(round(centre - stamp.height / 2))))


def grid_figure(
    picture: np.ndarray, tile_shape: tuple[int, int], x_labels: Sequence[str], y_labels: Sequence[str] = (),
    x_title: str = "", y_title: str = "",
) -> go.Figure:
    """The tiled (H, W) or (H, W, 3) picture as a plotly figure whose axis ticks are the labels (the page's view of the
    grid).

    Tick labels stay sharp at any size on screen; the pixels are drawn unsmoothed.
    """
    height, width = np.shape(picture)[:2]
    figure = go.Figure(go.Image(source=png_data_uri(png_bytes(picture)), hoverinfo="skip"))
    figure.update_xaxes(tickmode="array", tickvals=tile_centres(len(x_labels), tile_shape[1]).tolist(),
                        ticktext=list(x_labels), title_text=x_title, showgrid=False, zeroline=False, fixedrange=True,
                        ticks="outside")
    figure.update_yaxes(tickmode="array", tickvals=tile_centres(len(y_labels), tile_shape[0]).tolist(),
                        ticktext=list(y_labels), title_text=y_title, showgrid=False, zeroline=False, fixedrange=True,
                        ticks="outside" if y_labels else "", showticklabels=bool(y_labels), scaleanchor="x")
    plot_height = FIGURE_WIDTH_PX * height / max(width, 1)
    figure.update_layout(height=int(min(FIGURE_WIDTH_PX, plot_height) + 90),
                         margin=dict(l=60 if y_labels else 10, r=10, t=10, b=70),
                         dragmode=False, plot_bgcolor="white")
    return figure
