"""The presenter tour's frame: its large-type style sheet (tour.css) and the keys that step it (tour_keys.js)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

HERE = Path(__file__).resolve().parent
KEYS_COMPONENT = "vae_explorer.tour_keys"
STYLE = (HERE / "tour.css").read_text()

_keys = st.components.v2.component(KEYS_COMPONENT, js=(HERE / "tour_keys.js").read_text())


def use_tour_style() -> None:
    """Large type, the whole width, no sidebar or top bar: while the page that calls it is shown."""
    st.html(f"<style>{STYLE}</style>")  # the app's own style sheet, nothing a user or a file controls


def listen_to_keys(key: str, on_step: Callable[[], None]) -> None:
    """The invisible component that sends "step" ("next", "previous", "first", "last") for the presenter's keys."""
    _keys(key=key, on_step_change=on_step)


def key_event(key: str) -> object | None:
    """The keys component's "step" in this run, or None; call it in the callback."""
    state = st.session_state.get(key)
    return state.get("step") if state is not None else None
