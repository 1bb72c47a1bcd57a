"""Presenter tour: a full-screen, large-type walk through the latent space, stepped with the keyboard or a clicker.

Opened from the menu or from a link (``/tour``, ``/tour?step=3``). Each step is a live view of the model
in use (pages/common/tour_steps.py); "Leave the tour" opens the page that continues it, with the same
model and view. The arrow keys, PageDown/PageUp and Space step through it (pages/common/tour_keys.js).
"""
from __future__ import annotations

import streamlit as st

from pages.common import links, model_access, shell, tour_frame, tour_steps
from pages.common.errors import friendly_errors, guarded, show_callback_error
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

STEP_KEY = "tour_step"  # the step shown, 0-based
LINK_SEEN_KEY = "tour_link_seen"  # the ?step= this session last read or wrote: another one comes from a new link
KEYS_KEY = "tour_keys"  # the invisible component that turns the presenter's keys into steps
BACK_KEY, NEXT_KEY, LEAVE_KEY = "tour_back", "tour_next", "tour_leave"
CONTAINER_KEY = "tour"  # the tour's container: its large type is scoped to .st-key-tour
STEP_PARAM = "step"  # ?step=1 to ?step=5 in the link, counted from 1 as the presenter counts
MOVES = {"next": 1, "previous": -1}  # what the keys component sends, besides "first" and "last"
KEYS_HELP = ("→, PageDown or Space: next step · ←, PageUp: back · F: full screen (Esc leaves it) · "
             "Leave the tour at any step to explore on your own.")


def show_page() -> None:
    """The large-type frame, the step the link or the keys ask for, and the buttons to move or leave."""
    tour_frame.use_tour_style()
    name = model_access.active_model_name()
    if name is None:
        st.title("Presenter tour")
        model_access.show_no_model_yet()
        return
    read_step_link()
    step = current_step()
    spec = tour_steps.STEPS[step]
    with st.container(key=CONTAINER_KEY):
        st.title(spec.title)
        st.caption(f"Step {step + 1} of {len(tour_steps.STEPS)} · model {plain(name)}")
        with friendly_errors(already_shown=show_callback_error()):
            if not model_access.models_ready():
                model_access.wait_for_models(name)
            else:
                spec.show(name)
        show_buttons(name, step)
    tour_frame.listen_to_keys(KEYS_KEY, on_key)
    write_step_link(step)


def current_step() -> int:
    """The step in session state (0 at first), kept inside the tour."""
    step = st.session_state.get(STEP_KEY)
    if not isinstance(step, int) or not 0 <= step < len(tour_steps.STEPS):
        step = 0
    st.session_state[STEP_KEY] = step
    return step


def read_step_link() -> None:
    """A ``?step=`` this session has not read or written yet (a link just opened) chooses the step."""
    text = st.query_params.get(STEP_PARAM)
    if text is None or text == st.session_state.get(LINK_SEEN_KEY):
        return
    st.session_state[LINK_SEEN_KEY] = text
    try:
        st.session_state[STEP_KEY] = links.parse_whole(text, 1, len(tour_steps.STEPS)) - 1
    except ValueError as error:
        links.warn_bad_link(STEP_PARAM, str(error))


def write_step_link(step: int) -> None:
    """The step in the address, so a reload or a shared link opens the same step."""
    st.session_state[LINK_SEEN_KEY] = str(step + 1)
    links.write_link({STEP_PARAM: str(step + 1)})


def show_buttons(name: str, step: int) -> None:
    """Back, next, and leave the tour for the page that continues this step (same model, same view)."""
    last = len(tour_steps.STEPS) - 1
    back, forward, leave = st.columns([1, 1, 3], vertical_alignment="center")
    back.button("← Back", key=BACK_KEY, on_click=move, args=(-1,), disabled=step == 0, width="stretch")
    forward.button("Next →", key=NEXT_KEY, on_click=move, args=(1,), disabled=step == last, width="stretch",
                   type="primary")
    spec = tour_steps.STEPS[step]
    if leave.button("Leave the tour and explore this yourself", key=LEAVE_KEY, icon=":material/explore:"):
        st.switch_page(spec.page, query_params={"model": name, **spec.params(name)})
    st.caption(KEYS_HELP)


@guarded
def move(delta: int) -> None:
    """One step on or back, staying inside the tour."""
    step = int(st.session_state.get(STEP_KEY) or 0) + delta
    st.session_state[STEP_KEY] = min(max(step, 0), len(tour_steps.STEPS) - 1)


@guarded
def on_key() -> None:
    """A presenter's key: "next", "previous", "first" or "last" (anything else is ignored)."""
    value = tour_frame.key_event(KEYS_KEY)
    if value == "first":
        st.session_state[STEP_KEY] = 0
    elif value == "last":
        st.session_state[STEP_KEY] = len(tour_steps.STEPS) - 1
    elif isinstance(value, str) and value in MOVES:
        move(MOVES[value])


with friendly_errors():
    show_page()
