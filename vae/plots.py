"""Pure plotly figure builders: numpy arrays and plain values in, go.Figure out (no UI, no torch)."""
from __future__ import annotations

import base64
import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae.data.limits import MAX_CLASSES

# Paul Tol's colour-blind-safe "muted" scheme as shipped by plotly (qualitative.Safe): 11 colours,
# ten of them clearly apart for the usual ten classes. More classes reuse colours with other shapes.
PALETTE: tuple[str, ...] = (
    "rgb(136, 204, 238)", "rgb(204, 102, 119)", "rgb(221, 204, 119)", "rgb(17, 119, 51)",
    "rgb(51, 34, 136)", "rgb(170, 68, 153)", "rgb(68, 170, 153)", "rgb(153, 153, 51)",
    "rgb(136, 34, 85)", "rgb(102, 17, 0)", "rgb(136, 136, 136)",
)
SYMBOLS: tuple[str, ...] = ("circle", "square", "diamond", "triangle-up", "triangle-down", "star")
GRID_TRACE_NAME = "plane"  # the invisible click-catching grid, always trace 0
MARKER_TRACE_NAME = "Chosen point"
OTHER_CLASSES = "other classes"  # the one legend entry for every class past MAX_CLASSES - 1
PLOT_HEIGHT = 620  # pixels
PRIOR_EXTENT = 3.0  # plane units: [-3, 3] holds 99.7% of the standard normal prior; the plane with no codes
MIN_AXIS_SPAN = 1.0  # plane units: the narrowest axis, so a collapsed model's blob of codes still gets a plane

# One colour and one name per training quantity, the same in every training chart (Okabe-Ito colours).
CURVE_STYLES: dict[str, tuple[str, str]] = {  # quantity -> (legend name, colour)
    "loss": ("Training loss", "#0072B2"),
    "test_loss": ("Test loss (−ELBO, unseen images)", "#D55E00"),
    "recon": ("Reconstruction error (how blurry)", "#009E73"),
    "kl": ("KL divergence (how far codes stray from the prior)", "#CC79A7"),
}


def axis_range(values: np.ndarray, min_span: float = MIN_AXIS_SPAN, margin: float = 0.15) -> tuple[float, float]:
    """A fixed axis range framing the codes: their 1st..99th percentile, widened by ``margin`` on each side.

    The range always holds 0 (the prior's centre, where a new point starts) and is at least
    ``min_span`` wide, centred on the codes, so a collapsed model's tiny blob still gets a plane
    it fills visibly. Non-finite values are ignored; with none left it is the prior's bulk.
    """
    data = np.asarray(values, np.float64).ravel()
    data = data[np.isfinite(data)]
    if not data.size:
        return -PRIOR_EXTENT, PRIOR_EXTENT
    p_low, p_high = np.percentile(data, [1, 99])
    pad = margin * (p_high - p_low)
    low, high = min(0.0, p_low - pad), max(0.0, p_high + pad)
    if high - low < min_span:
        centre = (low + high) / 2
        low, high = centre - min_span / 2, centre + min_span / 2
    return round(float(low), 2), round(float(high), 2)


def class_color(index: int) -> str:
    """The palette colour of class ``index``."""
    return PALETTE[index % len(PALETTE)]


def class_symbol(index: int) -> str:
    """The marker shape of class ``index``: circles first, other shapes once colours repeat."""
    return SYMBOLS[(index // len(PALETTE)) % len(SYMBOLS)]


def png_data_uri(png: bytes | str) -> str:
    """PNG bytes (or an existing data URI) as a ``data:image/png;base64,...`` string."""
    if isinstance(png, str):
        return png
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def grid_trace(x_range: tuple[float, float], y_range: tuple[float, float], density: int = 150) -> go.Scattergl:
    """An invisible density x density grid of points, so a click on empty space still reports x, y.

    Plotly only reports clicks on points; opacity-0 points still register clicks (see
    shared/STREAMLIT_NOTES.md). float32 keeps the payload small.
    """
    xs = np.linspace(*x_range, density, dtype=np.float32)
    ys = np.linspace(*y_range, density, dtype=np.float32)
    grid_x, grid_y = np.meshgrid(xs, ys)
    invisible = dict(marker=dict(opacity=0))
    return go.Scattergl(
        x=grid_x.ravel(), y=grid_y.ravel(), mode="markers", name=GRID_TRACE_NAME, showlegend=False,
        marker=dict(size=6, opacity=0, color="rgba(0,0,0,0)"), hoverinfo="none",
        selected=invisible, unselected=invisible,
    )


def plot_classes(labels: np.ndarray, class_names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels and one name per class, ready to plot: never more than MAX_CLASSES classes.

    Up to MAX_CLASSES classes (one per name, more if labels go beyond the names) nothing changes:
    class k keeps number k, even when no image has it. Beyond that (a checkpoint with thousands of
    names, or sparse labels such as 0 and 70,000) only the classes that occur are kept, renumbered
    0..K-1 in increasing order with their names; past MAX_CLASSES - 1 of them the rest share one
    entry, OTHER_CLASSES. So a plot's traces and legend stay small whatever the labels say.

    Returns:
        (labels, names): (N,) int64 class numbers and one name per class number.
    """
    label_array = np.asarray(labels).astype(np.int64).ravel()
    count = max(len(class_names), int(label_array.max()) + 1 if label_array.size else 0)
    if count <= MAX_CLASSES:
        return label_array, tuple(class_name(class_names, index) for index in range(count))
    present, numbered = np.unique(label_array, return_inverse=True)
    names = [class_name(class_names, int(label)) for label in present]
    if len(present) > MAX_CLASSES:
        numbered = np.minimum(numbered, MAX_CLASSES - 1)
        names = [*names[:MAX_CLASSES - 1], OTHER_CLASSES]
    return numbered.astype(np.int64).ravel(), tuple(names)


def class_count(labels: np.ndarray, class_names: Sequence[str]) -> int:
    """How many classes a plot of these labels shows (see :func:`plot_classes`): at most MAX_CLASSES."""
    return len(plot_classes(labels, class_names)[1])


def class_name(class_names: Sequence[str], index: int) -> str:
    """The name of class ``index``: its entry in ``class_names``, else "class <index>"."""
    return str(class_names[index]) if 0 <= index < len(class_names) else f"class {index}"


def plotly_text(text: object) -> str:
    """``text`` for a plotly label, shown as typed.

    Plotly reads a subset of HTML (``<a href>``, ``<b>``, ``<br>``) in trace names and hover text;
    ``&``, ``<`` and ``>`` become entities, which plotly shows as the characters themselves.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def class_traces(
    points2d: np.ndarray, labels: np.ndarray, class_names: Sequence[str], indices: np.ndarray | None = None,
    hidden_classes: Sequence[int] = (),
) -> list[go.Scattergl]:
    """One WebGL trace per class (so a legend click hides a class), with the image index as customdata.

    points2d (N, 2), labels (N,) int; every class of :func:`plot_classes` gets a trace, even an
    empty one, so trace k + 1 is always its class k. Classes in ``hidden_classes`` start hidden
    (still listed in the legend). Names are shown as plain text (:func:`plotly_text`).
    """
    points = np.asarray(points2d, np.float32).reshape(-1, 2)
    label_array, names = plot_classes(labels, class_names)
    index_array = np.arange(len(points)) if indices is None else np.asarray(indices)
    hidden = {int(label) for label in hidden_classes}
    traces = []
    for label, shown_name in enumerate(names):
        members = np.flatnonzero(label_array == label)
        name = plotly_text(shown_name)
        traces.append(go.Scattergl(
            x=points[members, 0], y=points[members, 1], customdata=index_array[members].astype(np.int32),
            mode="markers", name=name, legendgroup=name, visible="legendonly" if label in hidden else True,
            marker=dict(size=6, color=class_color(label), symbol=class_symbol(label), opacity=0.85,
                        line=dict(width=0.5, color="white")),
            unselected=dict(marker=dict(opacity=0.85)),
            hovertemplate="Image #%{customdata}<br>Class: %{fullData.name}<extra></extra>",
        ))
    return traces


def marker_trace(point: tuple[float, float], name: str = MARKER_TRACE_NAME) -> go.Scattergl:
    """A large black cross with a white outline at ``point``."""
    return go.Scattergl(
        x=[float(point[0])], y=[float(point[1])], mode="markers", name=name, showlegend=False,
        marker=dict(symbol="x", size=18, color="black", line=dict(width=1.5, color="white")),
        hoverinfo="skip",
    )


def latent_scatter(
    points2d: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    grid_density: int = 150,
    marker: tuple[float, float] | None = None,
    background_png: bytes | str | None = None,
    axis_titles: tuple[str, str] = ("z1", "z2"),
    indices: np.ndarray | None = None,
    height: int = PLOT_HEIGHT,
    hidden_classes: Sequence[int] = (),
) -> go.Figure:
    """The latent plane: invisible click grid (trace 0), one trace per class, then the optional cross.

    Args:
        points2d: (N, 2) plane coordinates of the images.
        labels: (N,) class index of each image.
        class_names: one legend name per class.
        x_range, y_range: fixed axis ranges (zoom is off so the grid and the view agree).
        grid_density: clickable grid points per side.
        marker: plane position of the chosen point, drawn as a cross.
        background_png: a picture (PNG bytes or data URI) stretched over the whole plane, under the points.
        axis_titles: names of the horizontal and vertical axes.
        indices: (N,) image numbers shown on hover and reported on click (default 0..N-1).
        hidden_classes: class indices drawn hidden (a legend click shows them again).
    """
    classes = class_traces(points2d, labels, class_names, indices, hidden_classes)
    figure = go.Figure([grid_trace(x_range, y_range, grid_density), *classes])
    if marker is not None:
        figure.add_trace(marker_trace(marker))
    style_plane(figure, x_range, y_range, axis_titles, height, show_grid=background_png is None)
    if background_png is not None:
        add_background(figure, background_png, x_range, y_range)
    return figure


def style_plane(
    figure: go.Figure, x_range: tuple[float, float], y_range: tuple[float, float],
    axis_titles: tuple[str, str], height: int, show_grid: bool = True,
) -> None:
    """Fixed ranges, no zoom or drag, legend on the right titled for non-programmers."""
    axis = dict(fixedrange=True, showgrid=show_grid, zeroline=show_grid, mirror=True, showline=True, linecolor="#999")
    figure.update_layout(
        xaxis=dict(range=list(x_range), title=axis_titles[0], **axis),
        yaxis=dict(range=list(y_range), title=axis_titles[1], **axis),
        height=height, margin=dict(l=50, r=10, t=30, b=50), dragmode=False, hovermode="closest",
        legend=dict(title=dict(text="Class (click to hide)"), itemsizing="constant"),
        plot_bgcolor="white", uirevision="latent-plane",
    )


def add_background(
    figure: go.Figure, png: bytes | str, x_range: tuple[float, float], y_range: tuple[float, float]
) -> None:
    """Stretch a picture over the plane, below the points (works under Scattergl)."""
    figure.add_layout_image(
        source=png_data_uri(png), xref="x", yref="y", x=x_range[0], y=y_range[1],
        sizex=x_range[1] - x_range[0], sizey=y_range[1] - y_range[0],
        sizing="stretch", layer="below", opacity=1.0,
    )


def loss_curves(history: dict) -> go.Figure:
    """Training curves per epoch, labelled for non-programmers; lower is better on both panels.

    history: lists per epoch under ``train_loss``, ``recon``, ``kl`` and ``test_elbo`` (nats per
    image; the test ELBO is drawn as the test loss -ELBO). Missing or empty lists are skipped.
    Each quantity has its CURVE_STYLES name and colour, as in ``batch_loss_curves``.
    """
    figure = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.12,
        subplot_titles=("Overall loss (lower is better)", "The two parts of the training loss"),
    )
    series = [(1, "train_loss", "loss", 1.0), (1, "test_elbo", "test_loss", -1.0), (2, "recon", "recon", 1.0),
              (2, "kl", "kl", 1.0)]
    for column, key, quantity, sign in series:
        values = finite_values(history.get(key) or [], sign)
        if values:
            epochs = list(range(1, len(values) + 1))
            figure.add_trace(curve_trace(quantity, epochs, values, "lines+markers", "Epoch %{x}"), row=1, col=column)
    if not figure.data:
        figure.add_annotation(text="No training history yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_xaxes(title_text="Epoch", rangemode="tozero")
    figure.update_yaxes(title_text="nats per image", col=1)
    figure.update_layout(height=380, margin=dict(l=60, r=10, t=40, b=50), hovermode="x unified",
                         legend=dict(orientation="h", y=-0.25), plot_bgcolor="white")
    return figure


def batch_loss_curves(curves: dict) -> go.Figure:
    """The training loss and its two parts batch by batch, in the same names and colours as ``loss_curves``.

    curves: equal-length lists under ``step`` (position in epochs) and ``loss``, ``recon``, ``kl``
    (nats per image).
    """
    figure = go.Figure()
    steps = [float(step) for step in curves.get("step") or []]
    for quantity in ("loss", "recon", "kl"):
        values = finite_values(curves.get(quantity) or [])
        if values and steps:
            figure.add_trace(curve_trace(quantity, steps[: len(values)], values, "lines", "Epoch %{x:.2f}"))
    figure.update_xaxes(title_text="Epoch", rangemode="tozero")
    figure.update_yaxes(title_text="nats per image")
    figure.update_layout(height=260, margin=dict(l=60, r=10, t=10, b=40), hovermode="x unified",
                         legend=dict(orientation="h", y=-0.35), plot_bgcolor="white")
    return figure


def curve_trace(quantity: str, x: Sequence[float], y: Sequence[float | None], mode: str, x_hover: str) -> go.Scatter:
    """One training curve drawn in its quantity's CURVE_STYLES name and colour."""
    name, color = CURVE_STYLES[quantity]
    return go.Scatter(x=list(x), y=list(y), mode=mode, name=name, line=dict(color=color, width=2),
                      hovertemplate=f"{x_hover}<br>{name}: %{{y:.2f}}<extra></extra>")


def finite_values(values: Sequence[float | None], sign: float = 1.0) -> list[float | None]:
    """``sign * value`` per entry; None, NaN and infinity become gaps (None)."""
    out: list[float | None] = []
    for value in values:
        try:
            number = sign * float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        out.append(number if math.isfinite(number) else None)
    return out
