"""Several models side by side, without torch: their loss curves in one figure, and the test images they share."""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from vae.plots import CURVE_STYLES, finite_values

# Quantity (a CURVE_STYLES key) -> (the history's curve, the sign that makes "lower is better").
CURVE_SOURCES: dict[str, tuple[str, float]] = {
    "test_loss": ("test_elbo", -1.0), "loss": ("train_loss", 1.0), "recon": ("recon", 1.0), "kl": ("kl", 1.0),
}
# The colour says the quantity (as in every training chart); the dash and the end label say the model.
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
CURVES_HEIGHT = 420  # pixels


def curves_by_model(histories: Sequence[tuple[str, dict]], quantity: str = "test_loss") -> go.Figure:
    """One line per model of one training quantity per epoch, in that quantity's CURVE_STYLES colour.

    Args:
        histories: (label, history) per model; a history holds lists per epoch under ``train_loss``,
            ``recon``, ``kl`` and ``test_elbo`` (nats per image; the test ELBO is drawn as the test loss).
        quantity: a key of CURVE_SOURCES.

    Models are told apart by the line's dash and by their label at the line's last point. A model
    without that curve gets no line (the figure says so when none has one).
    """
    key, sign = CURVE_SOURCES[quantity]
    name, color = CURVE_STYLES[quantity]
    figure = go.Figure()
    for number, (label, history) in enumerate(histories):
        values = finite_values((history or {}).get(key) or [], sign)
        if not any(value is not None for value in values):
            continue
        epochs = list(range(1, len(values) + 1))
        last = max(i for i, value in enumerate(values) if value is not None)
        shown = html.escape(label)  # plotly reads names as HTML: a model's name is shown as typed
        figure.add_trace(go.Scatter(
            x=epochs, y=values, mode="lines+text", name=shown, text=[""] * last + [shown] + [""] * (len(values) - last - 1),
            textposition="middle right", textfont=dict(color=color), cliponaxis=False,
            line=dict(color=color, width=2, dash=DASHES[number % len(DASHES)]),
            hovertemplate=f"%{{fullData.name}}<br>Epoch %{{x}}<br>{name}: %{{y:.2f}}<extra></extra>",
        ))
    if not figure.data:
        figure.add_annotation(text="None of these models has this curve in its training history", showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_xaxes(title_text="Epoch", rangemode="tozero")
    figure.update_yaxes(title_text="nats per image (lower is better)")
    figure.update_layout(height=CURVES_HEIGHT, margin=dict(l=60, r=140, t=20, b=50), plot_bgcolor="white",
                         legend=dict(orientation="h", y=-0.2), hovermode="closest")
    return figure


def shared_images(labels: np.ndarray, count: int) -> np.ndarray:
    """``count`` test image numbers to show for every model: the first image of each class, then the next ones.

    With no labels (or one class) these are simply the first ``count`` images. Returns (K,) int64,
    K = min(count, number of images), in increasing order of class, then of number.
    """
    labels = np.asarray(labels).ravel()
    count = max(0, min(int(count), len(labels)))
    firsts = [int(np.flatnonzero(labels == label)[0]) for label in np.unique(labels)][:count]
    taken = set(firsts)
    rest = [index for index in range(len(labels)) if index not in taken][: count - len(firsts)]
    return np.asarray(firsts + rest, np.int64)
