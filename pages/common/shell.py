"""The app's frame (page set-up, navigation, model sidebar), run by app.py or by a page file run on its own.

Streamlit sees the folder ``pages/`` next to app.py and, until a run reaches ``st.navigation``, treats
the app as an old-style multipage app (its "pages-folder mode"): the first run after ``streamlit run``
sends a sidebar listing every ``pages/*.py``, and a link such as ``/interpolate`` runs that file on its
own, without app.py. On a busy machine that first run lasts seconds. Hence:

- :func:`run_app` reaches ``st.navigation`` before any slow import, so that sidebar is replaced at once;
- page helpers live in pages/common/, which that mode never lists nor serves;
- every page file calls :func:`open_in_app` first: run on its own, it runs the whole app instead;
- no helper module calls Streamlit while it is imported (no ``st.rerun`` there): a click starts a new
  run at once while the old one may still be importing, and an import stopped half-way by Streamlit
  made the new run's import of the same module fail ("cannot import name ... from 'pages'").
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
TITLE = "VAE Latent Explorer"
ICON = HERE / "icon.svg"  # a local file (sent inline): the app also runs offline
HISTORY_KEY = "app_history"  # the invisible component that keeps one history entry per page


@dataclass(frozen=True)
class PageSpec:
    """One page of the navigation: its file (relative to app.py), menu title and icon."""

    path: str
    title: str
    icon: str
    default: bool = False


PAGES = (
    PageSpec("pages/home.py", "Start", ":material/home:"),
    PageSpec("pages/tour.py", "Presenter tour", ":material/slideshow:"),
    PageSpec("pages/explore.py", "Latent space", ":material/scatter_plot:", default=True),
    PageSpec("pages/interpolate.py", "Interpolate", ":material/swap_horiz:"),
    PageSpec("pages/generate.py", "Generate", ":material/auto_awesome:"),
    PageSpec("pages/reconstructions.py", "Reconstructions", ":material/compare:"),
    PageSpec("pages/compare.py", "Compare", ":material/compare_arrows:"),
    PageSpec("pages/train.py", "Train", ":material/model_training:"),
    PageSpec("pages/models.py", "Models", ":material/inventory_2:"),
)

# True while run_app runs the chosen page: a page file that finds it False was run on its own.
_IN_APP: ContextVar[bool] = ContextVar("vae_explorer_in_app", default=False)

_history = st.components.v2.component(
    "vae_explorer.history", js=(HERE / "history.js").read_text(), css=f".st-key-{HISTORY_KEY} {{ display: none; }}",
    isolate_styles=False,
)


def run_app() -> None:
    """Page config, the navigation, the model sidebar, then the page the address asks for."""
    st.set_page_config(page_title=TITLE, page_icon=ICON, layout="wide")
    navigation = st.navigation([st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec.default)
                                for spec in PAGES])
    with st.sidebar:
        _history(key=HISTORY_KEY)
    from pages.common import sidebar  # only now: it loads numpy and vae, seconds on a busy machine

    sidebar.show_model_sidebar()
    token = _IN_APP.set(True)
    try:
        navigation.run()
    finally:
        _IN_APP.reset(token)


def open_in_app() -> None:
    """Call first in every page file: when Streamlit runs the file on its own, run the whole app instead.

    That happens only in Streamlit's pages-folder mode (the first run after the server starts, see
    the module docstring). The app's navigation then runs this same file as the page the address
    names, with the sidebar; the outer run stops here.
    """
    if _IN_APP.get():
        return
    run_app()
    st.stop()
