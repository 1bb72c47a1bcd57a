"""Generate page: new pictures from random codes, a decoded grid, an offset walk, the KL per code number, and
one dimension at a time ordered by it."""
from __future__ import annotations

import streamlit as st

import vae
from pages.common import decoded_grid, factors, kl_view, model_access, offset_walk, pictures, shell
from pages.common.errors import friendly_errors
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

# Session-state keys of the widgets, section by section (the others' in their modules).
SIDE_KEY, SEED_KEY, TEMPERATURE_KEY = "gen_side", "gen_seed", "gen_temperature"
SAMPLES_DOWNLOAD_KEY = "gen_samples_download"


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


def main() -> None:
    st.title("Generate new pictures")
    model = model_access.active_model()
    name = model_access.active_model_name()
    if model is None or name is None:
        return
    st.markdown(f"Model in use: **{plain(name)}** ({model.latent_dim} numbers per code).")
    # The decoded grid, the offset walk, the KL with its traversals and the strips per known factor live in
    # pages/common (decoded_grid.py, offset_walk.py, kl_view.py, factors.py).
    for section in (show_samples, decoded_grid.show_grid, offset_walk.show_offset_walk, kl_view.show_kl_and_traversals,
                    factors.show_factors):
        with friendly_errors():
            section(name, model)
        st.divider()


main()
