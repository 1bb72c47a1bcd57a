"""Charts of the research views off the map: KL per latent dim, statistics along an interpolation path (no torch)."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Okabe-Ito colours (colour-blind safe), as vae.plots' training curves.
ACTIVE_COLOR, INACTIVE_COLOR = "#0072B2", "#BBBBBB"
LIKELIHOOD_COLOR, DISTANCE_COLOR, HOLE_COLOR, FLOOR_COLOR = "#D55E00", "#009E73", "#CC79A7", "#777777"
DOWNLOAD_WIDTH_PX, DOWNLOAD_HEIGHT_PX = 1600, 800  # the chart's own PNG button: at least 1024 px on the long side
# The config of every chart here: its camera button saves a PNG of DOWNLOAD_WIDTH_PX, ready for slides.
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "width": DOWNLOAD_WIDTH_PX,
                                                               "height": DOWNLOAD_HEIGHT_PX, "scale": 1}}


def dim_name(dim: int) -> str:
    """A latent dim as the pages name it: z1 for dim 0."""
    return f"z{dim + 1}"


def kl_bar_chart(kl: np.ndarray, active: np.ndarray) -> go.Figure:
    """One bar per latent dim (z1, z2, ... in order): its average KL from the prior in nats; unused dims grey.

    kl: (D,) nats per picture; active: (D,) bool (vae.analysis.diagnostics.kl_per_dimension).
    """
    values = np.asarray(kl, np.float64)
    used = np.asarray(active, bool)
    names = [dim_name(dim) for dim in range(len(values))]
    figure = go.Figure()
    for flag, label, color in ((True, "used", ACTIVE_COLOR), (False, "unused (inactive)", INACTIVE_COLOR)):
        chosen = np.flatnonzero(used == flag)
        if len(chosen):
            figure.add_trace(go.Bar(
                x=[names[i] for i in chosen], y=values[chosen].tolist(), name=f"Code numbers {label}",
                marker=dict(color=color), hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
    figure.update_xaxes(title_text="Code number", categoryorder="array", categoryarray=names)
    figure.update_yaxes(title_text="KL from the prior (nats per picture)", rangemode="tozero")
    figure.update_layout(height=320, margin=dict(l=60, r=10, t=10, b=50), barmode="overlay", plot_bgcolor="white",
                         legend=dict(orientation="h", y=-0.3))
    return figure


def path_chart(nll: np.ndarray, floor: np.ndarray, distance: np.ndarray, in_hole: np.ndarray) -> go.Figure:
    """Two panels over the steps of a path (1..S): the decoded picture's -log p in nats (with the likelihood's
    floor when it has one), and the distance to the nearest test code; steps in a hole are marked on both.
    """
    steps = list(range(1, len(nll) + 1))
    holes = [step for step, flag in zip(steps, np.asarray(in_hole, bool)) if flag]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=(
        "How unlikely the model finds the picture (−log p, nats; lower is more typical)",
        "Distance to the nearest test picture's code"))
    figure.add_trace(go.Scatter(x=steps, y=_finite(nll), mode="lines+markers", name="−log p of the picture",
                                line=dict(color=LIKELIHOOD_COLOR, width=2),
                                hovertemplate="Step %{x}: %{y:.1f} nats<extra></extra>"), row=1, col=1)
    if np.isfinite(np.asarray(floor, np.float64)).any():
        figure.add_trace(go.Scatter(x=steps, y=_finite(floor), mode="lines", name="Floor no model can go below",
                                    line=dict(color=FLOOR_COLOR, dash="dot"),
                                    hovertemplate="Step %{x}: floor %{y:.1f} nats<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(x=steps, y=_finite(distance), mode="lines+markers", name="Distance to nearest code",
                                line=dict(color=DISTANCE_COLOR, width=2),
                                hovertemplate="Step %{x}: %{y:.2f}<extra></extra>"), row=2, col=1)
    for step in holes:
        figure.add_vrect(x0=step - 0.4, x1=step + 0.4, fillcolor=HOLE_COLOR, opacity=0.25, line_width=0)
    if holes:  # one legend entry for the shaded steps
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="Step in a hole (off the data)",
                                    marker=dict(symbol="square", size=12, color=HOLE_COLOR, opacity=0.5)), row=1, col=1)
    figure.update_xaxes(title_text="Step (A is 1)", row=2, col=1, dtick=1 if len(steps) <= 16 else None)
    figure.update_layout(height=420, margin=dict(l=60, r=10, t=30, b=40), plot_bgcolor="white",
                         legend=dict(orientation="h", y=-0.18), hovermode="x unified")
    return figure


def _finite(values: np.ndarray) -> list[float | None]:
    """Plain floats; NaN and infinity become gaps."""
    return [float(v) if math.isfinite(float(v)) else None for v in np.asarray(values, np.float64)]
