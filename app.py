"""VAE Latent Explorer: page setup, navigation and the model sidebar; each page lives in pages/."""
import streamlit as st

from pages import _shared

st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/explore:", layout="wide")
navigation = st.navigation([
    st.Page("pages/home.py", title="Start", icon=":material/home:"),
    st.Page("pages/explore.py", title="Latent space", icon=":material/scatter_plot:", default=True),
    st.Page("pages/interpolate.py", title="Interpolate", icon=":material/swap_horiz:"),
    st.Page("pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
    st.Page("pages/reconstructions.py", title="Reconstructions", icon=":material/compare:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
])
_shared.show_model_sidebar()
navigation.run()
