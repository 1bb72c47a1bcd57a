"""Train page: pick images, a model and settings; watch the run live in the background and stop it any time."""
from __future__ import annotations

import dataclasses
import math

import streamlit as st
from streamlit.errors import StreamlitAPIException

import vae
from pages.common import _pictures, _shared, _training, shell
from vae import images as vae_images
from vae import jobs
from vae import plots
from vae.config import preset_beta

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

POLL_SECONDS = 1.0  # how often the progress area refreshes while a run is going
# The link names the session's run (?job=<id>), so a reload, a new session, finds it again; the id is a random
# token, so other sessions still see only their own runs.
JOB_PARAM = "job"


def settings_defaults() -> None:
    """Starting values of the settings, set once per session (widgets then keep what the user chose)."""
    defaults = {
        "train_dataset": _training.dataset_options()[0], "train_model": "classic-mlp", "train_kind": "mlp",
        "train_hidden": "400", "train_channels": "32,64", "train_likelihood": "bernoulli",
        "train_latent": vae.PRESETS["classic-mlp"].latent_dim, "train_beta": preset_beta("classic-mlp"),
        "train_epochs": 10,
        "train_batch": 128, "train_lr": 0.001, "train_seed": 0, "train_overwrite": False,
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault("train_name", suggested_name())


def suggested_name() -> str:
    """A free model name from the chosen images and model, e.g. digits-classic-mlp (or digits-classic-mlp-2)."""
    model = st.session_state["train_model"]
    label = st.session_state["train_kind"] if model == _training.CUSTOM_MODEL else model
    return _training.free_name(f"{_training.dataset_label(st.session_state['train_dataset'])}-{label}")


def on_choice_changed(previous_name: str) -> None:
    """Keep the latent size and the suggested name in step with the chosen model and images."""
    model = st.session_state["train_model"]
    if model in vae.PRESETS:
        st.session_state["train_latent"] = vae.PRESETS[model].latent_dim
    if st.session_state.get("train_name") == previous_name:  # the user has not typed their own
        st.session_state["train_name"] = suggested_name()


def on_model_changed(previous_name: str) -> None:
    """A preset brings its recipe's KL weight (the Keras conv VAE's is 0.196), then the latent size and name follow."""
    model = st.session_state["train_model"]
    if model in vae.PRESETS:
        st.session_state["train_beta"] = preset_beta(model)
    on_choice_changed(previous_name)


def offer_next_name(snapshot: jobs.JobSnapshot) -> None:
    """Once a run has saved its model, move the name box on to a free name (before the box is drawn)."""
    if not snapshot.saved_name or st.session_state.get(_training.RENAMED_KEY) == snapshot.job_id:
        return
    st.session_state[_training.RENAMED_KEY] = snapshot.job_id
    try:
        typed = vae.sanitize_name(st.session_state.get("train_name", ""))
    except vae.VAEError:
        return
    if typed == snapshot.saved_name:
        st.session_state["train_name"] = _training.free_name(snapshot.saved_name)


def session_job_id() -> str | None:
    """This session's run: the one it started, else the one its link names (after a reload); kept in the link."""
    job_id = st.session_state.get(_training.JOB_KEY)
    if not job_id:
        linked = st.query_params.get(JOB_PARAM)
        if linked and jobs.get_job(linked) is None:
            del st.query_params[JOB_PARAM]
            st.info("The training run in this link is no longer kept here (the app may have restarted).")
        elif linked:
            st.session_state[_training.JOB_KEY] = job_id = linked
    if job_id and st.query_params.get(JOB_PARAM) != job_id:
        st.query_params[JOB_PARAM] = job_id
    return job_id


def choose_dataset() -> vae.data.Dataset | None:
    """The images selectbox; the loaded Dataset, or None (with the uploader or a message) otherwise."""
    options = _training.dataset_options()
    if st.session_state.get("train_dataset") not in options:  # e.g. an upload deleted meanwhile
        st.session_state["train_dataset"] = options[0]
    st.selectbox(
        "Images to learn from", options, key="train_dataset",
        format_func=_training.describe_dataset, on_change=on_choice_changed, args=(suggested_name(),),
        persist_state="session",
        help="The first two work offline. The next ones are downloaded once into the data folder. "
             "Then come your own uploads, and the last entry adds new ones.",
    )
    if st.session_state["train_dataset"] == _training.UPLOAD_CHOICE:
        upload_form()
        return None
    try:
        dataset = _shared.load_dataset(st.session_state["train_dataset"], _allow_download=True)  # the user chose it
    except vae.VAEError as error:
        st.error(_shared.plain(error))
        return None
    height, width = dataset.image_shape
    st.caption(f"{len(dataset.train_images):,} training and {len(dataset.test_images):,} test images of "
               f"{height}x{width} pixels in {len(dataset.class_names)} classes.")
    show_upload_message()
    return dataset


def upload_form() -> None:
    """How to lay out the images, the file uploader, a name box and the 'Add these images' button."""
    st.markdown(_training.UPLOAD_EXPLANATION)
    limit_mb = st.get_option("server.maxUploadSize")
    upload = st.file_uploader(
        "Your images (.zip or .npz)", type=["zip", "npz"], key=_training.UPLOAD_KEY, on_change=on_upload_changed,
        help=f"One .zip or .npz file of at most {limit_mb} MB (the largest upload this app accepts).",
    )
    name = st.text_input("Name for these images", key=_training.UPLOAD_NAME_KEY, max_chars=64,
                         help="Letters, digits, '-' and '_'; other characters become '-'.")
    warn_if_upload_exists(name)
    st.button("Add these images", key="train_upload_add", type="primary", disabled=upload is None,
              on_click=add_uploaded_images,
              help="Check the file and keep a copy in the data folder, so you can train on it now and later.")
    show_upload_message()


def warn_if_upload_exists(name: str) -> None:
    """Say when adding would replace the user's earlier images of the same name."""
    try:
        stem = vae.sanitize_name(name)
    except vae.VAEError:
        return
    if f"{vae.data.UPLOAD_PREFIX}{stem}" in vae.data.list_user_datasets():
        st.warning(f"You already have images called {_shared.plain(stem)}; adding these replaces them.")


def on_upload_changed() -> None:
    """Uploader callback: suggest a name for newly chosen images from their file name."""
    upload = st.session_state.get(_training.UPLOAD_KEY)
    if upload is not None:
        st.session_state[_training.UPLOAD_NAME_KEY] = _training.suggest_upload_name(upload.name)


def add_uploaded_images() -> None:
    """'Add these images' callback: store the upload, choose it, and leave a message for the page."""
    upload = st.session_state.get(_training.UPLOAD_KEY)
    if upload is None:
        return
    name = st.session_state.get(_training.UPLOAD_NAME_KEY) or _training.suggest_upload_name(upload.name)
    try:
        dataset = _training.save_uploaded_images(upload.name, upload.getvalue(), name)
    except vae.VAEError as error:
        st.session_state[_training.UPLOAD_MESSAGE_KEY] = ("error", str(error))
        return
    except Exception:  # noqa: BLE001 - a callback's error would show as a traceback
        _shared.LOGGER.exception("Unexpected error while adding uploaded images")
        st.session_state[_training.UPLOAD_MESSAGE_KEY] = ("error", (
            f"{upload.name} could not be read. Check that it is a .zip of class folders holding PNG or JPEG "
            "images, or a .npz file saved with NumPy, and upload it again."))
        return
    previous_name = suggested_name()
    st.session_state["train_dataset"] = dataset.name
    on_choice_changed(previous_name)
    st.session_state[_training.UPLOAD_MESSAGE_KEY] = ("success", _training.describe_upload(dataset))


def show_upload_message() -> None:
    """Show, once, what the last 'Add these images' click did."""
    kind, text = st.session_state.pop(_training.UPLOAD_MESSAGE_KEY, (None, ""))
    if kind == "success":
        st.success(_shared.plain(text))
    elif kind == "error":
        st.error(_shared.plain(text))


def choose_model() -> vae.ModelConfig | None:
    """The model settings; a ModelConfig (image size filled in later), or None with a message."""
    options = [*vae.PRESETS, _training.CUSTOM_MODEL]
    model = st.selectbox("Model", options, key="train_model", format_func=_training.describe_model,
                         on_change=on_model_changed, args=(suggested_name(),), persist_state="session",
                         help="A ready-made network, or Custom to choose the layers yourself.")
    latent = st.number_input("Latent size (numbers per code)", 1, 64, step=1, key="train_latent",
                             persist_state="session",
                             help="How many numbers the model squeezes each picture into. 2 gives a flat map "
                                  "you can click directly; more numbers give sharper pictures.")
    try:
        if model != _training.CUSTOM_MODEL:
            return dataclasses.replace(vae.PRESETS[model], latent_dim=int(latent))
        return custom_model(int(latent))
    except (ValueError, vae.VAEError) as error:
        st.error(_shared.plain(error))
        return None


def custom_model(latent: int) -> vae.ModelConfig:
    """Widgets for a hand-made network; ValueError or TrainingError when the sizes make no sense."""
    kind = st.selectbox("Network type", list(_training.MODEL_KINDS), key="train_kind",
                        format_func=_training.MODEL_KINDS.get, persist_state="session",
                        help="Fully connected: every pixel linked to every unit. Convolutional: small "
                             "filters slide over the picture (better for larger images).")
    likelihood = st.selectbox("How pixels are compared", list(_training.LIKELIHOODS), key="train_likelihood",
                              format_func=_training.LIKELIHOODS.get, persist_state="session",
                              help="How the model scores a redrawn picture against the original.")
    if kind == "mlp":
        text = st.text_input("Hidden layer sizes", key="train_hidden", persist_state="session",
                             help="Units per layer between the picture and the code, e.g. 400 or 256,128.")
        sizes = _training.parse_sizes(text, "hidden layer sizes")
        return vae.ModelConfig(kind="mlp", latent_dim=latent, hidden_sizes=sizes, likelihood=likelihood)
    text = st.text_input("Filters per convolution layer", key="train_channels", persist_state="session",
                         help="One number per layer; each layer halves the picture size, e.g. 32,64.")
    channels = _training.parse_sizes(text, "filters per layer")
    return vae.ModelConfig(kind="conv", latent_dim=latent, conv_channels=channels, likelihood=likelihood)


def choose_training() -> vae.TrainConfig | None:
    """Epochs, batch size, learning rate, KL weight and seed; a TrainConfig or None with a message."""
    left, right = st.columns(2)
    epochs = left.number_input("Epochs (passes over the data)", 1, 500, step=1, key="train_epochs",
                               persist_state="session", help="More passes learn more but take longer.")
    batch = left.number_input("Batch size", 1, 4096, step=16, key="train_batch", persist_state="session",
                              help="Pictures looked at per learning step. 128 is a good start.")
    beta = left.number_input("KL weight (beta)", 0.0, 100.0, step=0.5, format="%.3f", key="train_beta",
                             persist_state="session",
                             help="1 is a plain VAE. Larger values tidy the map but blur the pictures. Choosing a "
                                  "ready-made model sets its recipe's value.")
    left.caption(recipe_beta_note(st.session_state["train_model"], float(beta)))
    rate = right.number_input("Learning rate", 0.00001, 10.0, step=0.0005, format="%.5f", key="train_lr",
                              persist_state="session",
                              help="Size of each learning step. 0.001 is safe; too large makes training blow up.")
    seed = right.number_input("Seed", 0, 2**31 - 1, step=1, key="train_seed", persist_state="session",
                              help="Same seed and settings give the same model again.")
    try:
        return vae.TrainConfig(epochs=int(epochs), batch_size=int(batch), learning_rate=float(rate),
                               beta=float(beta), seed=int(seed))
    except vae.VAEError as error:
        st.error(_shared.plain(error))
        return None


def recipe_beta_note(model: str, beta: float) -> str:
    """Say which KL weight the chosen preset's recipe trains with, and whether the field still holds it."""
    if model not in vae.PRESETS:
        return "1 is a plain VAE."
    recipe = preset_beta(model)
    said = f"The {model} recipe trains with a KL weight of {recipe:g}"
    return f"{said}." if math.isclose(beta, recipe, abs_tol=5e-4) else f"{said}; you changed it to {beta:g}."


def choose_name() -> str | None:
    """The model name; its sanitized form, or None with a message when it cannot be used."""
    text = st.text_input("Model name", key="train_name", max_chars=80, persist_state="session",
                         help="Letters, digits, '-' and '_'; other characters become '-'.")
    try:
        path = vae.checkpoint_path(_shared.checkpoint_dir(), text)
    except vae.VAEError as error:
        st.error(_shared.plain(error))
        return None
    st.caption(f"It will be saved as `{path.name}` in the models folder.")
    if jobs.name_in_training(path.stem, _shared.checkpoint_dir()):
        st.warning(f"A model called {path.stem} is being trained right now; pick another name.")
        return None
    if path.exists():
        st.warning(f"A model called {_shared.plain(path.stem)} already exists.")
        st.checkbox(f"Replace the existing model {_shared.plain(path.stem)}", key="train_overwrite",
                    help="Tick to overwrite it when training ends; otherwise pick another name.")
    return path.stem


def show_capacity() -> None:
    """Say so before Start when the server is already training as many models as it runs at once."""
    count = len(jobs.running_jobs())
    if count >= jobs.MAX_RUNNING_JOBS:
        st.info(f"This server is training {count} models right now, the most it trains at once. Start works "
                f"again as soon as one of them finishes.")


def start_training(name: str, dataset: vae.data.Dataset, model: vae.ModelConfig, train: vae.TrainConfig) -> None:
    """Start a background job for this session, or show why it cannot start."""
    path = vae.checkpoint_path(_shared.checkpoint_dir(), name)
    overwrite = bool(st.session_state.get("train_overwrite")) and path.exists()
    try:
        job_id = jobs.start_job(name, dataset, model, train, _shared.checkpoint_dir(), overwrite=overwrite)
    except vae.VAEError as error:
        st.error(_shared.plain(error))
        return
    st.session_state[_training.JOB_KEY] = job_id
    st.rerun()


def stop_job(job_id: str) -> None:
    """Stop button callback."""
    job = jobs.get_job(job_id)
    if job is not None:
        job.cancel()


def show_progress(job_id: str, polling: bool) -> None:
    """The progress area (a fragment while polling): bar, curves, preview, and the outcome when done."""
    job = jobs.get_job(job_id)
    if job is None:
        st.info("The last training run is no longer available (the app may have restarted).")
        return
    snapshot = job.snapshot()
    with _shared.friendly_errors():
        if snapshot.running:
            show_running(snapshot)
        else:
            show_outcome(snapshot)
    if polling and not snapshot.running:
        st.rerun()  # redraw the whole page once: the Start button comes back, polling ends


def show_running(snapshot: jobs.JobSnapshot) -> None:
    """Progress bar with epoch and speed, a Stop button, live curves and the latest preview."""
    if snapshot.epoch:
        text = (f"Epoch {snapshot.epoch} of {snapshot.epochs}, batch {snapshot.batch} of {snapshot.batches} "
                f"({snapshot.images_per_s:,.0f} images/s, {snapshot.elapsed_s:.0f} s so far)")
    else:
        text = _shared.plain(snapshot.message)
    st.progress(min(max(snapshot.progress, 0.0), 1.0), text=text)
    st.button("Stop training", key="train_stop", on_click=stop_job, args=(snapshot.job_id,),
              help="Stops after the current batch and keeps the model of the last finished epoch.")
    show_curves_and_preview(snapshot)


def show_outcome(snapshot: jobs.JobSnapshot) -> None:
    """How the run ended, what was kept, and a way to explore the saved model."""
    if snapshot.status == "completed":  # the bar stays, full: the last poll may have shown it at 83%
        st.progress(min(max(snapshot.progress, 0.0), 1.0), text=f"All {snapshot.epochs} epochs done")
        st.success(_shared.plain(snapshot.message))
    elif snapshot.status == "failed" or snapshot.saved_name is None:
        st.error(_shared.plain(snapshot.message))
    else:
        st.warning(_shared.plain(snapshot.message))
    if snapshot.advice:
        st.warning(snapshot.advice)  # the app's own words: no user text in it
    if snapshot.saved_name:
        show_next_name(snapshot.saved_name)
        if st.session_state.get(_training.CLEARED_KEY) != snapshot.job_id:
            _shared.clear_model_caches()
            st.session_state[_training.CLEARED_KEY] = snapshot.job_id
        if st.button("Explore this model", key="train_explore", type="primary",
                     help="Use this model on every page and open the latent space."):
            explore(snapshot.saved_name)
    if snapshot.status != "failed":
        show_curves_and_preview(snapshot)


def show_next_name(saved_name: str) -> None:
    """Say that the name box moved on, so the saved model and the box's new name are not mistaken for each other."""
    try:
        next_name = vae.sanitize_name(st.session_state.get("train_name", ""))
    except vae.VAEError:
        return
    if next_name != saved_name and next_name == _training.free_name(next_name):
        st.caption(f"The model you just trained is `{saved_name}`. The name box above now says `{next_name}`, "
                   f"a free name for your next model.")


def explore(name: str) -> None:
    """Make ``name`` the active model and open the latent space page."""
    _shared.set_active_model(name)
    try:
        st.switch_page("pages/explore.py")
    except StreamlitAPIException:
        st.info(f"{_shared.plain(name)} is now the model in use; open the Latent space page from the menu.")


def show_curves_and_preview(snapshot: jobs.JobSnapshot) -> None:
    """Loss curves (per batch while it runs, per epoch with the test loss) beside the reconstruction preview."""
    left, right = st.columns([3, 2])
    with left:
        if snapshot.epochs_done:
            st.plotly_chart(plots.loss_curves(snapshot.curves), key="train_curves")
        if snapshot.batch_curves["step"]:
            st.caption("Batch by batch (nats per image; lower is better)")
            st.plotly_chart(plots.batch_loss_curves(snapshot.batch_curves), key="train_batch_curves")
    with right:
        if snapshot.preview is not None and snapshot.preview.shape[1]:
            picture = vae_images.tile(snapshot.preview)
            after = f"after epoch {snapshot.preview_epoch}" if snapshot.preview_epoch else "before training"
            _pictures.show(picture, 320, f"Top: test images. Bottom: the model's redrawn versions {after}.")


def main() -> None:
    st.title("Train a model")
    st.markdown("Teach a new model to squeeze pictures into short codes and redraw them. Training runs in "
                "the background: you can watch it here, stop it, or use other pages meanwhile.")
    settings_defaults()
    job_id = session_job_id()
    job = jobs.get_job(job_id)
    running = job is not None and job.running
    if job is not None and not running:
        offer_next_name(job.snapshot())
    with _shared.friendly_errors():
        data_column, model_column = st.columns(2)
        with data_column:
            dataset = choose_dataset()
            name = choose_name()
        with model_column:
            model = choose_model()
        train = choose_training()
        ready = None not in (dataset, model, train, name)
        if not running:
            show_capacity()
        if st.button("Start training", key="train_start", type="primary", disabled=running or not ready,
                     help="Your own run is still going; stop it first." if running else "Train with these settings."):
            start_training(name, dataset, model, train)
    if job_id:
        st.divider()
        st.fragment(show_progress, run_every=POLL_SECONDS if running else None)(job_id, running)


main()
