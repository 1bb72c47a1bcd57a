"""The sidebar on every page: the active model's facts and a selectbox to switch model."""
from __future__ import annotations

import streamlit as st

from pages.common import honest
from pages.common.errors import friendly_errors, guarded, show_callback_error
from pages.common.links import VIEW_PARAMS
from pages.common.model_access import active_model_name, model_info, model_names, set_active_model
from pages.common.text import plain

SIDEBAR_MODEL_KEY = "sidebar_model"  # the sidebar's model selectbox


def show_model_sidebar() -> None:
    """The sidebar on every page: the active model's facts and a selectbox to switch model."""
    with st.sidebar, friendly_errors(already_shown=show_callback_error()):
        names = model_names()
        wanted = st.query_params.get("model")
        active = active_model_name()
        if wanted and wanted not in names:
            st.warning(f"The link asks for a model called {plain(repr(wanted))}, which is not here; "
                       f"showing {plain(active or 'none')} instead.")
            for param in VIEW_PARAMS:  # its points belong to the missing model
                st.query_params.pop(param, None)
        if active is None:
            st.caption("No model yet.")
            return
        if st.query_params.get("model") != active:
            st.query_params["model"] = active
        # Every run, not only on change: after a page switch the browser redraws the selectbox from this
        # run's value; without one it showed the first name (index 0) and sent it back on the next click.
        st.session_state[SIDEBAR_MODEL_KEY] = active
        st.selectbox("Model", names, key=SIDEBAR_MODEL_KEY, on_change=_on_sidebar_model,
                     help="The model every page uses. Manage models on the Models page.")
        show_model_facts(active)


@guarded
def _on_sidebar_model() -> None:
    set_active_model(st.session_state[SIDEBAR_MODEL_KEY])


def show_model_facts(name: str) -> None:
    """A few plain facts about a model: dataset, latent size, test ELBO and what it contains (once measured)."""
    info = model_info(name)
    if info is None:
        return
    elbo = "not measured" if info.test_elbo is None else f"{info.test_elbo:.1f}"
    if info.test_elbo is not None:  # the floor only once a page has measured it: the sidebar never loads images
        elbo += honest.short_fact(info.likelihood, info.test_elbo, honest.known_floor(info.dataset))
    st.markdown(f"**{plain(info.name)}**  \nData: {plain(info.dataset)}  \nLatent size: {info.latent_dim}  \n"
                f"Test ELBO: {elbo}",
                help="ELBO: how well the model explains unseen test images (higher is better). "
                     + honest.DENSITY_WORDS.get(info.likelihood, honest.FLOOR_HELP))
