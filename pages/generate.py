"""Generate page: new pictures from random codes, a decoded grid, an offset walk, and one dimension at a time."""
from __future__ import annotations

import numpy as np
import streamlit as st

import vae
from pages.common import decoded_grid, factors, model_access, offset_walk, pictures, shell
from pages.common.errors import friendly_errors
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

MAX_TRAVERSAL_ROWS = 16
# Session-state keys of the widgets, section by section.
SIDE_KEY, SEED_KEY, TEMPERATURE_KEY = "gen_side", "gen_seed", "gen_temperature"
SAMPLES_DOWNLOAD_KEY = "gen_samples_download"
TRAVERSE_RANGE_KEY, TRAVERSE_STEPS_KEY = "gen_traverse_range", "gen_traverse_steps"
TRAVERSE_DIMS_KEY, TRAVERSE_DOWNLOAD_KEY = "gen_traverse_dims", "gen_traverse_download"


def show_samples(name: str, model: vae.LatentModel) -> None:
    """A square grid of pictures decoded from random codes drawn from the prior."""
    st.subheader("Random new pictures")
    st.caption("Each picture is drawn from a random code. Nothing like it was in the training images.")
    left, middle, right = st.columns(3)
    side = left.slider("Pictures per side", 4, 12, 8, key=SIDE_KEY, help="The grid is this many pictures square.")
    seed = middle.number_input("Seed", 0, 2**31 - 1, 0, step=1, key=SEED_KEY,
                               help="The same seed draws the same codes again; change it for new pictures.")
    temperature = right.slider("Randomness", 0.1, 2.0, 1.0, 0.1, key=TEMPERATURE_KEY,
                               help="How far from the centre codes are drawn. 1 matches training; lower gives "
                                    "safer, more typical pictures, higher gives stranger ones.")
    _, images = model.sample_prior(side * side, temperature=float(temperature), seed=int(seed))
    picture = vae.images.tile(images.reshape(side, side, *model.image_dims))
    pictures.show_with_download(picture, f"{side * side} pictures from random codes (randomness {temperature:.1f})",
                                 f"{name}-samples-seed{seed}.png", SAMPLES_DOWNLOAD_KEY)


def show_traversals(name: str, model: vae.LatentModel) -> None:
    """One row per latent dim: that number moves from -range to +range while the others stay at 0."""
    st.subheader("One code number at a time")
    st.caption("Each row changes one number of the code from low (left) to high (right) while all the others "
               "stay at 0. A row that never changes is a number the model does not use.")
    left, right = st.columns(2)
    scale = left.slider("Range", 1.0, 5.0, 3.0, 0.5, key=TRAVERSE_RANGE_KEY,
                        help="Each number goes from minus this value to plus this value.")
    steps = right.slider("Steps per row", 5, 15, 9, key=TRAVERSE_STEPS_KEY, help="Pictures per row.")
    dims = list(range(model.latent_dim))
    if len(dims) > MAX_TRAVERSAL_ROWS:
        chosen = st.multiselect(
            "Code numbers to show", dims, default=dims[:MAX_TRAVERSAL_ROWS], key=TRAVERSE_DIMS_KEY,
            max_selections=MAX_TRAVERSAL_ROWS, format_func=lambda d: f"z{d + 1}",
            help=f"This model has {model.latent_dim} numbers; up to {MAX_TRAVERSAL_ROWS} rows are shown at once.",
        )
        dims = sorted(chosen)
    if not dims:
        st.info("Choose at least one code number to show.")
        return
    values = np.linspace(-float(scale), float(scale), int(steps))
    rows = np.stack([model.traverse(dim, values=values) for dim in dims])  # (rows, steps, H, W)
    labels = ", ".join(f"z{d + 1}" for d in dims[:4]) + (" ..." if len(dims) > 4 else "")
    pictures.show_with_download(vae.images.tile(rows), f"Rows: {labels}. Columns: {values[0]:g} to {values[-1]:g}.",
                                 f"{name}-one-number-at-a-time.png", TRAVERSE_DOWNLOAD_KEY)


def main() -> None:
    st.title("Generate new pictures")
    model = model_access.active_model()
    name = model_access.active_model_name()
    if model is None or name is None:
        return
    st.markdown(f"Model in use: **{plain(name)}** ({model.latent_dim} numbers per code).")
    # The decoded grid, the offset walk and the strips per known factor live in pages/common (decoded_grid.py,
    # offset_walk.py, factors.py).
    for section in (show_samples, decoded_grid.show_grid, offset_walk.show_offset_walk, show_traversals,
                    factors.show_factors):
        with friendly_errors():
            section(name, model)
        st.divider()


main()
