"""The Latent space map as one web page: map, legend, points and decoder in a single HTML file that works offline.

For people who will never run Python: the file opens from disk in any browser, with no server and no
network. It holds the map component's JavaScript (pages/common/latent_map.py component_js, the decoder
included), its CSS, and the map's data as JSON (points and decoder weights as base64, once each).
pages/common/share_page.js stands in for the server: a click or a let-go slider chooses the point in
the page itself. A Content-Security-Policy forbids every request, so nothing can leave the page.
"""
from __future__ import annotations

import html
import json
import re
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import streamlit as st

import vae
from pages.common import latent_map, live, model_access
from pages.common.planes import Plane

HERE = Path(__file__).resolve().parent
STARTER = HERE / "share_page.js"  # mounts the map and commits its clicks and sliders in the page
STYLE = HERE / "share_page.css"  # the page around the map
MOUNT_NAME = "mountLatentMap"  # what the page calls the component's default export
DATA_ID, MAP_ID = "latent-map-data", "latent-map"  # element ids share_page.js reads (DATA_ID, MAP_ID there)
FILE_SUFFIX = "-latent-map.html"
MIME = "text/html"
# No request of any kind: inline scripts and styles only, pictures from data: URIs (the map's background).
CONTENT_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
                  "base-uri 'none'; form-action 'none'")
BUTTON_LABEL = "Download as a web page (HTML)"
BUTTON_HELP = ("One file with this map, its legend and the model's decoder: it opens from disk in any browser, "
               "offline, and the picture follows the mouse. For people who do not run this app.")
UNAVAILABLE = ("Not available for this model: it has a layer the browser cannot run, and a saved page has no "
               "server to draw its pictures.")
INTRO = ("Each dot is a test image, placed where the model files its code. Move the mouse over the map to see "
         "what the model draws there. Click to choose a point (or drag the cross, or use the arrow keys); the "
         "picture then shows that point when the mouse leaves the map. Click a class in the legend to hide or "
         "show it.")
SLIDERS_TEXT = "The sliders under the map set the chosen point's numbers one by one."
SLICE_TEXT = "Each code has {count} numbers; the map is a flat slice through them ({across} across, {up} up)."
OFFLINE_TEXT = ("Saved from VAE Latent Explorer. Everything on this page is inside this one file: it needs no "
                "internet connection and sends nothing anywhere.")
_DEFAULT_EXPORT = re.compile(r"^export default function\s*\(", re.MULTILINE)
_SCRIPT_BREAKERS = re.compile(r"<(?=/script|!--)", re.IGNORECASE)  # would end or confuse an inline <script>


def web_page(name: str, plane: Plane, point: np.ndarray, decoder: dict, dataset: str = "",
             hidden_classes: Sequence[int] = (), codes: np.ndarray | None = None,
             background: str | None = None) -> bytes:
    """The whole page as UTF-8 bytes: one self-contained HTML file.

    Args:
        name: the model's name (shown as text).
        plane: the map's plane (pages/common/planes.py): points, classes, ranges, projection.
        point: (D,) the chosen code, shown when the mouse is not over the map.
        decoder: the model's decoder, ``vae.export_decoder(model).payload()``.
        dataset: the name of the images the model was trained on ("" when unknown).
        hidden_classes: classes not drawn at first (the legend shows them again).
        codes: (N, D) the test images' full codes, above 2-D (hovering a dot shows its own code).
        background: a data URI of decoded images drawn under the dots, or None.
    """
    data = page_data(plane, point, decoder, hidden_classes, codes, background)
    return page_html(name, dataset, data, plane.axis_titles).encode("utf-8")


def page_data(plane: Plane, point: np.ndarray, decoder: dict, hidden_classes: Sequence[int] = (),
              codes: np.ndarray | None = None, background: str | None = None) -> dict:
    """The map component's data as the app sends it (points and decoder inline), with a legend of its own."""
    point = np.asarray(point, np.float32).ravel()
    marker = plane.projection.to_2d(point[None])[0]
    data = latent_map.map_data(plane.points2d, plane.labels, plane.class_names, plane.x_range, plane.y_range,
                               marker=(float(marker[0]), float(marker[1])), background_png=background,
                               axis_titles=plane.axis_titles, hidden_classes=hidden_classes, codes=codes)
    data["legend_local"] = True  # no server: the legend hides classes in the page
    data["live"] = {"decoder": decoder, "lift": vae.lift_payload(plane.projection, point),
                    "ranges": [[float(low), float(high)] for low, high in plane.dim_ranges],
                    "point": [float(v) for v in point], "sliders": live.slider_spec(len(point)), "caption": None}
    return data


def page_html(name: str, dataset: str, data: dict, axis_titles: tuple[str, str]) -> str:
    """The HTML around the map: every name escaped, the data as inline JSON, the script as an inline module."""
    text = html.escape
    latent_dim = len(data["live"]["point"])
    trained_on = f"Trained on {text(dataset)}." if dataset else "The images it was trained on are not named."
    notes = [INTRO, SLIDERS_TEXT] if data["live"]["sliders"] else [INTRO]
    if latent_dim > 2:
        notes.append(SLICE_TEXT.format(count=latent_dim, across=axis_titles[0], up=axis_titles[1]))
    paragraphs = "\n".join(f"<p>{text(note)}</p>" for note in notes)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{text(CONTENT_POLICY)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{text(name)}: latent space</title>
<link rel="icon" href="data:,">
<style>
{STYLE.read_text()}
{(HERE / "latent_map.css").read_text()}
</style>
</head>
<body>
<main>
<h1>Latent space of {text(name)}</h1>
<p class="share-page-facts">A variational autoencoder whose codes have {latent_dim} numbers. {trained_on}</p>
{paragraphs}
<div id="{MAP_ID}"></div>
<noscript><p>This page needs JavaScript to draw the map.</p></noscript>
<p class="share-page-note">{text(OFFLINE_TEXT)}</p>
</main>
<script type="application/json" id="{DATA_ID}">{inline_json(data)}</script>
<script type="module">
{page_script()}
</script>
</body>
</html>
"""


def inline_json(data: dict) -> str:
    """JSON that cannot end or break its <script> element: <, > and & as \\u escapes (JSON.parse reads them)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_script() -> str:
    """The map's joined module with its default export named MOUNT_NAME, then share_page.js, which calls it."""
    joined, found = _DEFAULT_EXPORT.subn(f"function {MOUNT_NAME}(", latent_map.component_js())
    if found != 1:
        raise RuntimeError(f"pages/common/latent_map.js must have one `export default function (component)` "
                           f"(found {found}): the saved web page calls it")
    script = f"{joined}\n// ---- {STARTER.name}\n{STARTER.read_text()}\nstartSharedPage({MOUNT_NAME});\n"
    return _SCRIPT_BREAKERS.sub("<\\\\", script)  # "<\/script" means the same in JavaScript text


def download_button(name: str, plane: Plane, point: np.ndarray, key: str, hidden_classes: Sequence[int] = (),
                    codes: np.ndarray | None = None, background: str | None = None) -> None:
    """A button that saves the map as ``<model>-latent-map.html``, made only when clicked; or says why it cannot."""
    decoder = live.live_decoder(name)
    if decoder is None or decoder.payload is None:
        st.download_button(BUTTON_LABEL, data=b"", key=key, disabled=True, help=UNAVAILABLE)
        st.caption(UNAVAILABLE)
        return
    info = model_access.model_info(name)
    build = partial(web_page, name, plane, np.array(point, np.float32), decoder.payload,
                    dataset=info.dataset if info is not None else "", hidden_classes=list(hidden_classes),
                    codes=codes, background=background)
    st.download_button(BUTTON_LABEL, data=build, file_name=f"{name}{FILE_SUFFIX}", mime=MIME, key=key,
                       on_click="ignore", help=BUTTON_HELP)
