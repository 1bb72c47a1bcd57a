"""The latent map: a small canvas component (pages/common/latent_map.js and its modules) instead of a plotly chart.

Plotly cost about 2 s of the browser's first view on a 2-core machine; this draws the same dots
on a <canvas> in a few milliseconds. It reports each click's exact plane position (no invisible
click grid) and the test image under the mouse, and its legend hides classes for good. With a
decoder (pages/common/live.py) the picture beside it follows the mouse in the page itself.

The component's JavaScript is ES modules with relative imports (latent_map.js imports map_draw.js and
map_live.js, which imports ../decoder.js). Streamlit loads inline JavaScript from a blob: URL, where
relative imports cannot resolve, and sends it with every run of the page, so :func:`component_js`
joins them into one module, each imported module wrapped in a function that returns its exports:
self-contained, no bigger than its parts, and usable as it is in a page of its own
(``<script type="module">``, calling its default export).
"""
from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import streamlit as st

import vae



HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "vae_explorer.latent_map"
ENTRY_MODULE = HERE / "latent_map.js"
MAX_LABEL = np.iinfo(np.uint16).max  # labels travel as uint16
MAX_CODE_FLOATS = 2_000_000  # above this many numbers (8 MB) the dots' full codes stay on the server
POINT_SETS_KEPT = 4  # encoded point sets kept in memory (a million dots: about 13 MB of base64, 24 MB with 2-D codes)
_encoded: OrderedDict[str, dict] = OrderedDict()  # token -> point_set's answer, newest last, for every session
_encoded_lock = threading.Lock()
_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\.{1,2}/[\w./-]+\.js)";[ \t]*$', re.MULTILINE)
_EXPORT = re.compile(r"^export (?=(?:async )?(?:function\*?|const|let|class)\s+(\w+))", re.MULTILINE)


def component_js(entry: Path = ENTRY_MODULE) -> str:
    """The map's JavaScript as one module: each imported module inlined once, before its first user."""
    done: dict[Path, str] = {}  # module -> the name of the object holding its exports
    parts: list[str] = []

    def take(module: Path, is_entry: bool) -> str:
        source = module.read_text()

        def bind(match: re.Match) -> str:
            names = [name.strip() for name in match.group(1).split(",") if name.strip()]
            if not all(re.fullmatch(r"\w+", name) for name in names):
                raise ValueError(f"{module.name}: only plain named imports can be joined ({match.group(0)!r})")
            holder = take_once((module.parent / match.group(2)).resolve())
            return f"const {{ {', '.join(names)} }} = {holder};"

        source = _IMPORT.sub(bind, source)
        if is_entry:
            return source
        names = _EXPORT.findall(source)
        body = _EXPORT.sub("", source)
        return f"(() => {{\n{body}\nreturn {{ {', '.join(names)} }};\n}})()"

    def take_once(module: Path) -> str:
        if module not in done:
            done[module] = f"__module_{len(done)}_" + re.sub(r"\W", "_", module.stem)
            parts.append(f"// ---- {module.name}\nconst {done[module]} = {take(module, False)};\n")
        return done[module]

    main = take(entry.resolve(), True)
    return "".join(parts) + f"// ---- {entry.name}\n" + main


_mount = st.components.v2.component(
    COMPONENT_NAME, js=component_js(), css=(HERE / "latent_map.css").read_text(), isolate_styles=False,
)


def encode_floats(values: np.ndarray) -> str:
    """A 1-D array as base64 of little-endian float32 (what the browser reads into a Float32Array)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def label_array(labels: np.ndarray) -> np.ndarray:
    """Class numbers as little-endian uint16 (clipped to 0 .. MAX_LABEL), as they travel."""
    return np.clip(np.asarray(labels).astype(np.int64).ravel(), 0, MAX_LABEL).astype("<u2")


def encode_labels(labels: np.ndarray) -> str:
    """Class numbers as base64 of little-endian uint16."""
    return base64.b64encode(label_array(labels).tobytes()).decode("ascii")


def point_set(points2d: np.ndarray, labels: np.ndarray, codes: np.ndarray | None = None) -> dict:
    """The dots as the browser keeps them: base64 arrays and a ``token`` naming exactly these arrays.

    ``codes`` (N, D), when given, are the dots' full codes (so hovering a dot of a model above 2-D
    shows what a click on it decodes); left out past MAX_CODE_FLOATS numbers. The token is a hash of the
    raw arrays, and the base64 of the last POINT_SETS_KEPT sets is kept: a rerun of a page with a million
    dots hashes 10 MB (about 15 ms) instead of encoding and hashing them again. Callers share the answer: never change it.
    """
    points = np.ascontiguousarray(np.asarray(points2d, np.float32).reshape(-1, 2))
    raw = {"x": np.ascontiguousarray(points[:, 0], "<f4"), "y": np.ascontiguousarray(points[:, 1], "<f4"),
           "labels": label_array(labels)}
    if codes is not None and np.size(codes) <= MAX_CODE_FLOATS and len(codes) == len(points):
        raw["codes"] = np.ascontiguousarray(np.asarray(codes, np.float32).reshape(len(points), -1), "<f4")
    digest = hashlib.sha256()
    for name in sorted(raw):
        digest.update(f"{name}={raw[name].shape};".encode("ascii"))
        digest.update(memoryview(raw[name]).cast("B"))
    token = digest.hexdigest()[:32]
    with _encoded_lock:
        if token in _encoded:
            _encoded.move_to_end(token)
            return _encoded[token]
    arrays: dict = {name: base64.b64encode(values.tobytes()).decode("ascii") for name, values in raw.items()}
    if "codes" in raw:
        arrays["code_dim"] = int(raw["codes"].shape[1])
    answer = {"token": token, "count": int(len(points)), **arrays}
    with _encoded_lock:
        _encoded[token] = answer
        while len(_encoded) > POINT_SETS_KEPT:
            _encoded.popitem(last=False)
    return answer


def map_data(
    points2d: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    marker: tuple[float, float] | None = None,
    background_png: bytes | str | None = None,
    axis_titles: tuple[str, str] = ("z1", "z2"),
    hidden_classes: Sequence[int] = (),
    height: int = vae.plots.PLOT_HEIGHT,
    codes: np.ndarray | None = None,
) -> dict:
    """What the map component draws, as plain JSON values.

    Args:
        points2d: (N, 2) plane positions of the test images; dot i is test image i.
        labels: (N,) class number of each image.
        class_names: legend names; classes beyond the names are called "class k".
        x_range, y_range: the fixed plane shown.
        marker: the chosen point, drawn as a cross.
        background_png: a picture (PNG bytes or data URI) stretched over the plane, under the dots.
        axis_titles: names of the horizontal and vertical axes.
        hidden_classes: class numbers not drawn (shown struck out in the legend).
        height: most pixels of the plot's height (it is never taller than wide).
        codes: (N, D) full codes of the test images (see :func:`point_set`).
    """
    labels, names = vae.plots.plot_classes(labels, class_names)  # at most MAX_CLASSES, one name each
    count = len(names)
    return {
        "points": point_set(points2d, labels, codes), "class_names": list(names),
        "colors": [vae.plots.class_color(c) for c in range(count)], "symbols": [vae.plots.class_symbol(c) for c in range(count)],
        "hidden": sorted({int(c) for c in hidden_classes}),
        "x_range": [float(v) for v in x_range], "y_range": [float(v) for v in y_range],
        "marker": None if marker is None else [float(marker[0]), float(marker[1])],
        "background": None if background_png is None else vae.plots.png_data_uri(background_png),
        "axis_titles": [str(title) for title in axis_titles], "height": int(height),
    }


def latent_map(key: str, data: dict, on_click: Callable[[], None], on_legend: Callable[[], None],
               **on_events: Callable[[], None]) -> None:
    """Draw the map; ``on_click`` / ``on_legend`` (and ``on_<event>`` for "slider", "need") run before the rerun."""
    callbacks = {f"on_{name.removeprefix('on_')}_change": callback for name, callback in on_events.items()}
    _mount(key=key, data=data, on_click_change=on_click, on_legend_change=on_legend, **callbacks)


def scrubber(key: str, data: dict, on_need: Callable[[], None]) -> None:
    """Interpolate's scrubber: the same component in its "scrubber" mode (see map_live.js)."""
    _mount(key=key, data={**data, "mode": "scrubber"}, on_need_change=on_need)


def event(key: str, name: str) -> object | None:
    """The value of the map's event ``name`` ("click", "legend", "slider", "need") in this run, or None.

    Call it in a callback.
    """
    state = st.session_state.get(key)
    return state.get(name) if state is not None else None
