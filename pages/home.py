"""Start page: what a VAE's latent space is, and what each page does."""
import streamlit as st

from pages.common import model_access, shell
from pages.common.errors import friendly_errors
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

HARDEST_PARAM, HARDEST_VALUE = "order", "hardest"  # pages/reconstructions.py: ?order=hardest shows the hardest first

st.title("VAE Latent Explorer")
st.markdown(
    "A **variational autoencoder** (VAE) learns to squeeze each picture into a short list of numbers, "
    "its *code*, and to redraw the picture from that code. "
    "All possible codes together form the **latent space**: a map on which similar pictures sit close together. "
    "Because the map is smooth, you can point anywhere on it, even between the pictures it has seen, "
    "and the model draws what belongs there."
)

st.subheader("What each page does")
st.markdown(
    "- **Presenter tour**: a full-screen walk through the latent space for a room, stepped with the arrow "
    "keys or a clicker.\n"
    "- **Latent space**: the map of the test images, one colour per class. Click anywhere to see what the "
    "model draws at that spot, or move the sliders.\n"
    "- **Interpolate**: pick two pictures and watch one morph into the other along a path on the map; "
    "download the strip or an animated GIF.\n"
    "- **Generate**: draw brand-new pictures from random codes.\n"
    "- **Reconstructions**: compare pictures with the model's redrawn versions, and find the hardest ones "
    "(the link below opens them, hardest first).\n"
    "- **Compare**: two models side by side on linked maps, or several models of one dataset at once.\n"
    "- **Train**: teach a new model on a built-in dataset or your own images.\n"
    "- **Models**: choose the model every page uses, upload, download or delete models."
)

with friendly_errors():
    name = model_access.active_model_name()
    if name is None:
        st.info("There is no model yet. Train one on the **Train** page or upload one on the **Models** page.")
    else:
        st.success(f"The model in use is **{plain(name)}** (change it in the sidebar or on the Models page).")
st.page_link("pages/explore.py", label="Open the latent space", icon=":material/scatter_plot:")
st.page_link("pages/reconstructions.py", label="Find the hardest reconstructions", icon=":material/compare:",
             query_params={HARDEST_PARAM: HARDEST_VALUE},
             help="Opens Reconstructions with the test pictures the model redraws worst first.")
st.page_link("pages/tour.py", label="Start the presenter tour", icon=":material/slideshow:",
             help="Full screen, large type, five live steps: → or PageDown for the next one.")
