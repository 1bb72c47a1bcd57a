"""The Generate page's per-dimension KL: a bar per code number, and traversals ordered by it (unused numbers last)."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common import pictures, posteriors
from pages.common.text import plain

MAX_TRAVERSAL_ROWS = 16
# Session-state keys of the widgets (the traversal's are the ones this section had before the KL came).
TRAVERSE_RANGE_KEY, TRAVERSE_STEPS_KEY = "gen_traverse_range", "gen_traverse_steps"
TRAVERSE_DIMS_KEY, TRAVERSE_DOWNLOAD_KEY = "gen_traverse_dims", "gen_traverse_download"
KL_CHART_KEY = "gen_kl_chart"
KL_WORDS = ("Each bar says how much one code number tells the model about a picture: its KL from the prior, in "
            "nats, averaged over the test pictures. A tall bar is a number the model relies on; a grey bar is a "
            "number it does not use.")
INACTIVE_WORDS = ("{count} of {dims} code numbers are unused ({names}): across the test pictures their code "
                  "barely moves (its variance is below {threshold:g}), so the model ignores them and every picture "
                  "gets the prior's value there. This is called posterior collapse; KL warm-up and free bits on the "
                  "Train page work against it.")
UNUSED = "unused"


def show_kl_and_traversals(name: str, model: vae.LatentModel) -> None:
    """The KL bar chart (when the test pictures are here), then one row per code number, ordered by KL."""
    kl = show_kl(name, model)
    st.divider()
    show_traversals(name, model, kl)


def show_kl(name: str, model: vae.LatentModel) -> vae.DimensionKL | None:
    """The bar chart and which numbers are unused, and why; None (with a note) without test pictures."""
    st.subheader("What each code number carries")
    try:
        means, logvars = posteriors.test_posteriors(name)
    except vae.VAEError as error:
        st.info(f"The information per code number needs the test pictures: {plain(error)}")
        return None
    kl = vae.kl_per_dimension(means, logvars)
    st.caption(KL_WORDS)
    st.plotly_chart(vae.lens_plots.kl_bar_chart(kl.kl, kl.active), key=KL_CHART_KEY,
                    config=vae.lens_plots.CHART_CONFIG)
    inactive = np.flatnonzero(~kl.active)
    if len(inactive):
        names = ", ".join(vae.lens_plots.dim_name(dim) for dim in inactive)
        st.caption(INACTIVE_WORDS.format(count=len(inactive), dims=model.latent_dim, names=names,
                                         threshold=vae.ACTIVE_VARIANCE))
    else:
        st.caption(f"All {model.latent_dim} code numbers are in use.")
    return kl


def ordered_dims(latent_dim: int, kl: vae.DimensionKL | None) -> list[int]:
    """Dims by KL, highest first, the unused ones last (each group by KL); in order 0..D-1 without a KL."""
    if kl is None:
        return list(range(latent_dim))
    return [int(dim) for dim in kl.order if kl.active[dim]] + [int(dim) for dim in kl.order if not kl.active[dim]]


def row_label(dim: int, kl: vae.DimensionKL | None) -> str:
    """"z3: 2.10 nats", "z7: unused" or "z1" (without a KL)."""
    if kl is None:
        return vae.lens_plots.dim_name(dim)
    return f"{vae.lens_plots.dim_name(dim)}: {UNUSED}" if not kl.active[dim] else \
        f"{vae.lens_plots.dim_name(dim)}: {kl.kl[dim]:.2f} nats"


def show_traversals(name: str, model: vae.LatentModel, kl: vae.DimensionKL | None) -> None:
    """One row per latent dim, the most informative first: that number moves from -range to +range, the rest 0."""
    st.subheader("One code number at a time")
    order_words = " Rows go from the code number carrying the most (top) to unused ones (bottom)." if kl else ""
    st.caption("Each row changes one number of the code from low (left) to high (right) while all the others "
               "stay at 0. A row that never changes is a number the model does not use." + order_words)
    left, right = st.columns(2)
    scale = left.slider("Range", 1.0, 5.0, 3.0, 0.5, key=TRAVERSE_RANGE_KEY,
                        help="Each number goes from minus this value to plus this value.")
    steps = right.slider("Steps per row", 5, 15, 9, key=TRAVERSE_STEPS_KEY, help="Pictures per row.")
    dims = ordered_dims(model.latent_dim, kl)
    if len(dims) > MAX_TRAVERSAL_ROWS:
        chosen = st.multiselect(
            "Code numbers to show", dims, default=dims[:MAX_TRAVERSAL_ROWS], key=TRAVERSE_DIMS_KEY,
            max_selections=MAX_TRAVERSAL_ROWS, format_func=lambda dim: row_label(dim, kl),
            help=f"This model has {model.latent_dim} numbers; up to {MAX_TRAVERSAL_ROWS} rows are shown at once, "
                 f"those carrying the most first.")
        dims = [dim for dim in dims if dim in chosen]  # the KL order, whatever order they were picked in
    if not dims:
        st.info("Choose at least one code number to show.")
        return
    values = np.linspace(-float(scale), float(scale), int(steps))
    rows = np.stack([model.traverse(dim, values=values) for dim in dims])  # (rows, steps, H, W)
    labels = [row_label(dim, kl) for dim in dims]
    shown = "; ".join(labels[:6]) + ("; ..." if len(labels) > 6 else "")
    picture = vae.images.tile(rows)
    pictures.show(picture, pictures.PICTURE_WIDTH, f"Rows from the top: {shown}. Columns: {values[0]:g} to "
                  f"{values[-1]:g}.")
    labelled = vae.grid_pictures.labelled_picture(picture, model.image_shape,
                                                  [vae.grid_pictures.value_label(v) for v in values], labels)
    pictures.download_png("Download PNG", labelled, f"{name}-one-number-at-a-time.png", TRAVERSE_DOWNLOAD_KEY,
                          help_text="The rows with their code numbers and KL written beside them, at least 1024 "
                                    "pixels on the long side.")
