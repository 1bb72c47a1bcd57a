"""Pictures on the page and in downloads: PNG at whole-pixel scales, large enough for a slide."""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import vae

PICTURE_WIDTH = 560  # on-screen pixels a page-wide picture may take (whole-pixel scaling keeps it within)
DOWNLOAD_HELP = "A PNG at least 1024 pixels on its long side, each pixel a sharp square: ready for slides."


def show(picture: np.ndarray, width: int, caption: str | None = None, place: DeltaGenerator | None = None) -> None:
    """Show a (H, W) picture in [0, 1] as PNG, enlarged by a whole number to fit ``width``, at its exact width.

    Given PNG bytes, ``st.image`` would re-encode them as JPEG (its "auto" format picks JPEG for a
    picture without transparency) and resample any picture wider than the width asked for: the PNG
    format and the picture's own width keep every pixel a sharp square.
    """
    png, shown_width = vae.images.png_for_screen(picture, width)
    (place or st).image(png, caption=caption, width=shown_width, output_format="PNG")


def download_png(label: str, picture: np.ndarray, file_name: str, key: str, help_text: str = DOWNLOAD_HELP,
                 place: DeltaGenerator | None = None) -> None:
    """A button that downloads a (H, W) picture as a PNG of at least 1024 px; the file is made only when clicked."""
    (place or st).download_button(label, data=partial(vae.images.png_for_download, np.array(picture, np.float32)),
                                  file_name=file_name, mime="image/png", key=key, on_click="ignore", help=help_text)


def download_gif(label: str, frames: np.ndarray, file_name: str, key: str, frame_ms: int,
                 place: DeltaGenerator | None = None) -> None:
    """A button that downloads (N, H, W) frames as a looping GIF of at least 1024 px, made only when clicked."""
    (place or st).download_button(label, data=partial(vae.images.gif_for_download, np.array(frames, np.float32),
                                                      frame_ms), file_name=file_name, mime="image/gif", key=key,
                                  on_click="ignore", help="An animation at least 1024 pixels on its long side.")


def show_with_download(picture: np.ndarray, caption: str, file_name: str, key: str) -> None:
    """A page-wide picture with a "Download PNG" button below (Generate's pictures)."""
    show(picture, PICTURE_WIDTH, caption)
    download_png("Download PNG", picture, file_name, key)
