"""The Train page's progress area: the bar, live curves, the test images' map and previews while a run goes, then
how it ended. The run trains in its own process; everything here is read from its files (vae.training.jobs).

Part of pages/train.py (a page file cannot be imported); the keys of its own widgets are defined here,
the name box's key is the page's and comes in as an argument.
"""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

import vae
from pages.common import caches, latent_map, model_access, pictures, train_choices
from pages.common.errors import friendly_errors
from pages.common.text import plain

POLL_SECONDS = 1.0  # how often the bar refreshes while a run is going
VIEW_SECONDS = 5.0  # how often the curves, the map and the pictures refresh meanwhile
STOP_KEY, EXPLORE_KEY = "train_stop", "train_explore"
CURVES_KEY, BATCH_CURVES_KEY, MAP_KEY = "train_curves", "train_batch_curves", "train_map"
MAP_HEIGHT = 380  # pixels: the live map beside the curves
SAMPLE_COLUMNS = 8  # the prior samples as an 8 x 8 grid
CLEARED_KEY = "train_cleared_job"  # job whose finished checkpoint already cleared the model caches
TEST_LOSS_WORDS = ("The test loss is minus the test ELBO. With the Bernoulli likelihood (ink on paper) on grey "
                   "pictures it never reaches 0: about 46 nats per picture on mnist-5k are the pictures' own "
                   "entropy, which no model can remove. The Models page says how far above that floor a saved "
                   "model is.")


def stop_job(job_id: str) -> None:
    """Stop button callback."""
    job = vae.get_job(job_id, model_access.checkpoint_dir())
    if job is not None:
        job.cancel()


def show_area(job_id: str, running: bool, name_key: str) -> None:
    """The progress area: the bar, the curves, the map and the pictures of a run, then how it ended.

    While the run goes, two fragments poll: the bar and the Stop button every POLL_SECONDS, the heavier views
    (two plotly charts, the canvas map and two pictures) every VIEW_SECONDS. Redrawing three plotly charts each
    second kept the watching browser half a core busy; on one machine, that slowed every other user's clicks.
    """
    if not running:
        show_progress(job_id, False, name_key)
        return
    st.fragment(show_progress, run_every=POLL_SECONDS)(job_id, True, name_key)
    st.fragment(show_views, run_every=VIEW_SECONDS)(job_id)


def show_views(job_id: str) -> None:
    """The running run's curves, map and pictures (a fragment of their own)."""
    job = vae.get_job(job_id, model_access.checkpoint_dir())
    if job is None:
        return
    with friendly_errors():
        show_curves_and_preview(job.snapshot())


def show_progress(job_id: str, polling: bool, name_key: str) -> None:
    """The bar and Stop button (a fragment while polling), or the outcome with its curves and pictures when done.

    ``name_key`` is the session-state key of the page's model name box.
    """
    job = vae.get_job(job_id, model_access.checkpoint_dir())
    if job is None:
        st.info("The last training run is no longer available (finished runs are kept for a day).")
        return
    snapshot = job.snapshot()
    with friendly_errors():
        if snapshot.running:
            show_running(snapshot)
        else:
            show_outcome(snapshot, name_key)
    if polling and not snapshot.running:
        st.rerun()  # redraw the whole page once: the Start button comes back, polling ends


def show_running(snapshot: vae.JobSnapshot) -> None:
    """Progress bar with epoch and speed, and a Stop button."""
    if snapshot.epoch:
        text = (f"Epoch {snapshot.epoch} of {snapshot.epochs}, batch {snapshot.batch} of {snapshot.batches} "
                f"({snapshot.images_per_s:,.0f} images/s, {snapshot.elapsed_s:.0f} s so far)")
    else:
        text = plain(snapshot.message)
    st.progress(min(max(snapshot.progress, 0.0), 1.0), text=text)
    st.button("Stop training", key=STOP_KEY, on_click=stop_job, args=(snapshot.job_id,),
              help="Stops after the current batch and keeps the model of the last finished epoch.")


def show_outcome(snapshot: vae.JobSnapshot, name_key: str) -> None:
    """How the run ended, what was kept, and a way to explore the saved model."""
    if snapshot.status == "completed":  # the bar stays, full: the last poll may have shown it at 83%
        st.progress(min(max(snapshot.progress, 0.0), 1.0), text=f"All {snapshot.epochs} epochs done")
        st.success(plain(snapshot.message))
    elif snapshot.status == "failed" or snapshot.saved_name is None:
        st.error(plain(snapshot.message))
    else:
        st.warning(plain(snapshot.message))
    if snapshot.advice:
        st.warning(snapshot.advice)  # the app's own words: no user text in it
    if snapshot.saved_name:
        show_next_name(snapshot.saved_name, name_key)
        if st.session_state.get(CLEARED_KEY) != snapshot.job_id:
            caches.clear_model_caches()
            st.session_state[CLEARED_KEY] = snapshot.job_id
        if st.button("Explore this model", key=EXPLORE_KEY, type="primary",
                     help="Use this model on every page and open the latent space."):
            explore(snapshot.saved_name)
    if snapshot.status != "failed":
        show_curves_and_preview(snapshot)


def show_next_name(saved_name: str, name_key: str) -> None:
    """Say that the name box moved on, so the saved model and the box's new name are not mistaken for each other."""
    try:
        next_name = vae.sanitize_name(st.session_state.get(name_key, ""))
    except vae.VAEError:
        return
    if next_name != saved_name and next_name == train_choices.free_name(next_name):
        st.caption(f"The model you just trained is `{saved_name}`. The name box above now says `{next_name}`, "
                   f"a free name for your next model.")


def explore(name: str) -> None:
    """Make ``name`` the active model and open the latent space page."""
    model_access.set_active_model(name)
    try:
        st.switch_page("pages/explore.py")
    except StreamlitAPIException:
        st.info(f"{plain(name)} is now the model in use; open the Latent space page from the menu.")


def show_curves_and_preview(snapshot: vae.JobSnapshot) -> None:
    """Loss curves beside the test images' map, then the reconstructions beside the samples from the prior."""
    left, right = st.columns([3, 2])
    with left:
        if snapshot.epochs_done:
            st.plotly_chart(epoch_curves(snapshot.job_id, snapshot.epochs_done, snapshot), key=CURVES_KEY)
            st.caption(TEST_LOSS_WORDS)
        if snapshot.batch_curves["step"]:
            st.caption("Batch by batch (nats per image; lower is better)")
            st.plotly_chart(vae.plots.batch_loss_curves(snapshot.batch_curves), key=BATCH_CURVES_KEY)
    with right:
        show_live_map(snapshot)
    left, right = st.columns(2)
    after = f"after epoch {snapshot.preview_epoch}" if snapshot.preview_epoch else "before training"
    with left:
        if snapshot.preview is not None and snapshot.preview.shape[1]:
            picture = vae.images.tile(snapshot.preview)
            pictures.show(picture, 320, f"Top: test images. Bottom: the model's redrawn versions {after}.")
    with right:
        if snapshot.samples is not None and len(snapshot.samples):
            picture = vae.images.tile(snapshot.samples, columns=SAMPLE_COLUMNS)
            pictures.show(picture, 320, f"{len(snapshot.samples)} pictures the model draws from random codes {after} "
                                        f"(the same codes every epoch).")


def show_live_map(snapshot: vae.JobSnapshot) -> None:
    """Where the test images' codes sit after the latest epoch, in a frame fixed for the whole run."""
    if snapshot.map_points is None or snapshot.map_frame is None or not len(snapshot.map_points):
        st.caption("The map of the test images appears after the first epoch.")
        return
    x_min, x_max, y_min, y_max = snapshot.map_frame
    points = np.clip(snapshot.map_points, [x_min, y_min], [x_max, y_max])  # outliers sit on the frame's edge
    data = latent_map.map_data(points, snapshot.map_labels, snapshot.map_class_names, (x_min, x_max), (y_min, y_max),
                               axis_titles=snapshot.map_axis_titles, height=MAP_HEIGHT)
    data.update(view_only=True, legend_local=True)  # the canvas map: redrawn in a few ms, unlike a plotly chart
    latent_map.latent_map(MAP_KEY, data, on_click=ignore_event, on_legend=ignore_event)
    plane = "the codes themselves" if snapshot.map_axis_titles[0] == "z1" else "the plane of their two main directions"
    st.caption(f"The test images' codes after epoch {snapshot.preview_epoch}, on {plane}. The frame stays the same "
               f"for the whole run, so you can watch the classes move apart.")


# The views rerun every VIEW_SECONDS while a run goes; the epoch curves change once an epoch, so they are built
# once per epoch (building a plotly figure holds the server's Python for tens of ms that other users' clicks wait for).
@st.cache_resource(max_entries=16, show_spinner=False)
def epoch_curves(job_id: str, epochs_done: int, _snapshot: vae.JobSnapshot):
    """The per-epoch loss curves of a run after ``epochs_done`` epochs (shared, read-only)."""
    return vae.plots.loss_curves(_snapshot.curves)


def ignore_event() -> None:
    """The Train page's map sends nothing that needs the server: it is looked at, and hides classes by itself."""
