"""Train page: pick images, a model and settings; watch the run live in the background and stop it any time."""
from __future__ import annotations

import dataclasses
import math

import streamlit as st

import vae
from pages.common import datasets, model_access, shell, train_choices, train_progress
from pages.common.errors import LOGGER, friendly_errors
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

# The link names the session's run (?job=<id>), so a reload, a new session, finds it again; the id is a random
# token, so other sessions still see only their own runs.
JOB_PARAM = "job"
# Session-state keys (UI state only): the settings' widgets, then what the page remembers between runs.
DATASET_KEY, MODEL_KEY, KIND_KEY = "train_dataset", "train_model", "train_kind"
HIDDEN_KEY, CHANNELS_KEY, LIKELIHOOD_KEY = "train_hidden", "train_channels", "train_likelihood"
LATENT_KEY, BETA_KEY, EPOCHS_KEY = "train_latent", "train_beta", "train_epochs"
BATCH_KEY, RATE_KEY, SEED_KEY = "train_batch", "train_lr", "train_seed"
WARMUP_KEY, FREE_BITS_KEY = "train_kl_warmup", "train_free_bits"  # against posterior collapse
NAME_KEY, OVERWRITE_KEY, START_KEY = "train_name", "train_overwrite", "train_start"
GRAYSCALE_KEY = "train_grayscale"  # the "Turn the pictures grey" checkbox, shown for colour images
UPLOAD_KEY = "train_upload"  # the file uploader for the user's own images
UPLOAD_NAME_KEY = "train_upload_name"  # the name box for those images
UPLOAD_ADD_KEY = "train_upload_add"  # the "Add these images" button
UPLOAD_MESSAGE_KEY = "train_upload_message"  # ("success" or "error", text) left by "Add these images"
JOB_KEY = "train_job_id"  # id of this browser session's training job (vae.training.jobs)
RENAMED_KEY = "train_renamed_job"  # job after which the name box already moved on to a free name


def settings_defaults() -> None:
    """Starting values of the settings, set once per session (widgets then keep what the user chose)."""
    defaults = {
        DATASET_KEY: train_choices.dataset_options()[0], MODEL_KEY: "classic-mlp", KIND_KEY: "mlp",
        HIDDEN_KEY: "400", CHANNELS_KEY: "32,64", LIKELIHOOD_KEY: "bernoulli",
        LATENT_KEY: vae.PRESETS["classic-mlp"].latent_dim, BETA_KEY: vae.preset_beta("classic-mlp"), EPOCHS_KEY: 10,
        BATCH_KEY: 128, RATE_KEY: 0.001, SEED_KEY: 0, OVERWRITE_KEY: False, WARMUP_KEY: 0, FREE_BITS_KEY: 0.0,
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault(NAME_KEY, suggested_name())


def suggested_name() -> str:
    """A free model name from the chosen images and model, e.g. digits-classic-mlp (or digits-classic-mlp-2)."""
    model = st.session_state[MODEL_KEY]
    label = st.session_state[KIND_KEY] if model == train_choices.CUSTOM_MODEL else model
    return train_choices.free_name(f"{train_choices.dataset_label(st.session_state[DATASET_KEY])}-{label}")


def on_choice_changed(previous_name: str) -> None:
    """Keep the latent size and the suggested name in step with the chosen model and images."""
    model = st.session_state[MODEL_KEY]
    if model in vae.PRESETS:
        st.session_state[LATENT_KEY] = vae.PRESETS[model].latent_dim
    if st.session_state.get(NAME_KEY) == previous_name:  # the user has not typed their own
        st.session_state[NAME_KEY] = suggested_name()


def on_model_changed(previous_name: str) -> None:
    """A preset brings its recipe's KL weight (the Keras conv VAE's is 0.196), then the latent size and name follow."""
    model = st.session_state[MODEL_KEY]
    if model in vae.PRESETS:
        st.session_state[BETA_KEY] = vae.preset_beta(model)
    on_choice_changed(previous_name)


def offer_next_name(snapshot: vae.JobSnapshot) -> None:
    """Once a run has saved its model, move the name box on to a free name (before the box is drawn)."""
    if not snapshot.saved_name or st.session_state.get(RENAMED_KEY) == snapshot.job_id:
        return
    st.session_state[RENAMED_KEY] = snapshot.job_id
    try:
        typed = vae.sanitize_name(st.session_state.get(NAME_KEY, ""))
    except vae.VAEError:
        return
    if typed == snapshot.saved_name:
        st.session_state[NAME_KEY] = train_choices.free_name(snapshot.saved_name)


def session_job_id() -> str | None:
    """This session's run: the one it started, else the one its link names (after a reload); kept in the link."""
    job_id = st.session_state.get(JOB_KEY)
    if not job_id:
        linked = st.query_params.get(JOB_PARAM)
        if linked and vae.get_job(linked, model_access.checkpoint_dir()) is None:
            del st.query_params[JOB_PARAM]
            st.info("The training run in this link is no longer kept here (finished runs are kept for a day).")
        elif linked:
            st.session_state[JOB_KEY] = job_id = linked
    if job_id and st.query_params.get(JOB_PARAM) != job_id:
        st.query_params[JOB_PARAM] = job_id
    return job_id


def choose_dataset() -> vae.data.Dataset | None:
    """The images selectbox; the loaded Dataset, or None (with the uploader or a message) otherwise."""
    options = train_choices.dataset_options()
    if st.session_state.get(DATASET_KEY) not in options:  # e.g. an upload deleted meanwhile
        st.session_state[DATASET_KEY] = options[0]
    st.selectbox(
        "Images to learn from", options, key=DATASET_KEY,
        format_func=train_choices.describe_dataset, on_change=on_choice_changed, args=(suggested_name(),),
        persist_state="session",
        help="The first four work offline. The next ones are downloaded once into the data folder. "
             "Then come your own uploads, and the last entry adds new ones.",
    )
    if st.session_state[DATASET_KEY] == train_choices.UPLOAD_CHOICE:
        upload_form()
        return None
    try:
        datasets.draw_if_needed(st.session_state[DATASET_KEY])
        dataset = datasets.load_dataset(st.session_state[DATASET_KEY], _allow_download=True)  # the user chose it
        if dataset.channels > 1 and st.checkbox("Turn the pictures grey", key=GRAYSCALE_KEY, persist_state="session",
                                                help="Colour pictures stay in colour. Tick to train on grey "
                                                     "versions: one number per pixel, a smaller, faster model."):
            dataset = datasets.load_dataset(f"{dataset.name}{vae.data.GREY_SUFFIX}")
    except vae.VAEError as error:
        st.error(plain(error))
        return None
    height, width = dataset.image_shape
    st.caption(f"{len(dataset.train_images):,} training and {len(dataset.test_images):,} test images of "
               f"{height}x{width} pixels{' in colour' if dataset.channels > 1 else ''} in "
               f"{len(dataset.class_names)} classes.")
    show_upload_message()
    return dataset


def upload_form() -> None:
    """How to lay out the images, the file uploader, a name box and the 'Add these images' button."""
    st.markdown(train_choices.UPLOAD_EXPLANATION)
    limit_mb = st.get_option("server.maxUploadSize")
    upload = st.file_uploader(
        "Your images (.zip or .npz)", type=["zip", "npz"], key=UPLOAD_KEY, on_change=on_upload_changed,
        help=f"One .zip or .npz file of at most {limit_mb} MB (the largest upload this app accepts).",
    )
    name = st.text_input("Name for these images", key=UPLOAD_NAME_KEY, max_chars=64,
                         help="Letters, digits, '-' and '_'; other characters become '-'.")
    warn_if_upload_exists(name)
    st.button("Add these images", key=UPLOAD_ADD_KEY, type="primary", disabled=upload is None,
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
        st.warning(f"You already have images called {plain(stem)}; adding these replaces them.")


def on_upload_changed() -> None:
    """Uploader callback: suggest a name for newly chosen images from their file name."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is not None:
        st.session_state[UPLOAD_NAME_KEY] = train_choices.suggest_upload_name(upload.name)


def add_uploaded_images() -> None:
    """'Add these images' callback: store the upload, choose it, and leave a message for the page."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    name = st.session_state.get(UPLOAD_NAME_KEY) or train_choices.suggest_upload_name(upload.name)
    try:
        dataset = train_choices.save_uploaded_images(upload.name, upload.getvalue(), name)
    except vae.VAEError as error:
        st.session_state[UPLOAD_MESSAGE_KEY] = ("error", str(error))
        return
    except Exception:  # noqa: BLE001 - a callback's error would show as a traceback
        LOGGER.exception("Unexpected error while adding uploaded images")
        st.session_state[UPLOAD_MESSAGE_KEY] = ("error", (
            f"{upload.name} could not be read. Check that it is a .zip of class folders holding PNG or JPEG "
            "images, or a .npz file saved with NumPy, and upload it again."))
        return
    previous_name = suggested_name()
    st.session_state[DATASET_KEY] = dataset.name
    on_choice_changed(previous_name)
    st.session_state[UPLOAD_MESSAGE_KEY] = ("success", train_choices.describe_upload(dataset))


def show_upload_message() -> None:
    """Show, once, what the last 'Add these images' click did."""
    kind, text = st.session_state.pop(UPLOAD_MESSAGE_KEY, (None, ""))
    if kind == "success":
        st.success(plain(text))
    elif kind == "error":
        st.error(plain(text))


def choose_model() -> vae.ModelConfig | None:
    """The model settings; a ModelConfig (image size filled in later), or None with a message."""
    options = [*vae.PRESETS, train_choices.CUSTOM_MODEL]
    model = st.selectbox("Model", options, key=MODEL_KEY, format_func=train_choices.describe_model,
                         on_change=on_model_changed, args=(suggested_name(),), persist_state="session",
                         help="A ready-made network, or Custom to choose the layers yourself.")
    latent = st.number_input("Latent size (numbers per code)", 1, 64, step=1, key=LATENT_KEY,
                             persist_state="session",
                             help="How many numbers the model squeezes each picture into. 2 gives a flat map "
                                  "you can click directly; more numbers give sharper pictures.")
    try:
        if model != train_choices.CUSTOM_MODEL:
            return dataclasses.replace(vae.PRESETS[model], latent_dim=int(latent))
        return custom_model(int(latent))
    except (ValueError, vae.VAEError) as error:
        st.error(plain(error))
        return None


def custom_model(latent: int) -> vae.ModelConfig:
    """Widgets for a hand-made network; ValueError or TrainingError when the sizes make no sense."""
    kind = st.selectbox("Network type", list(train_choices.MODEL_KINDS), key=KIND_KEY,
                        format_func=train_choices.MODEL_KINDS.get, persist_state="session",
                        help="Fully connected: every pixel linked to every unit. Convolutional: small "
                             "filters slide over the picture (better for larger images).")
    likelihood = st.selectbox("How pixels are compared", list(train_choices.LIKELIHOODS), key=LIKELIHOOD_KEY,
                              format_func=train_choices.LIKELIHOODS.get, persist_state="session",
                              help="How the model scores a redrawn picture against the original.")
    if kind == "mlp":
        text = st.text_input("Hidden layer sizes", key=HIDDEN_KEY, persist_state="session",
                             help="Units per layer between the picture and the code, e.g. 400 or 256,128.")
        sizes = train_choices.parse_sizes(text, "hidden layer sizes")
        return vae.ModelConfig(kind="mlp", latent_dim=latent, hidden_sizes=sizes, likelihood=likelihood)
    text = st.text_input("Filters per convolution layer", key=CHANNELS_KEY, persist_state="session",
                         help="One number per layer; each layer halves the picture size, e.g. 32,64.")
    channels = train_choices.parse_sizes(text, "filters per layer")
    return vae.ModelConfig(kind="conv", latent_dim=latent, conv_channels=channels, likelihood=likelihood)


def choose_training() -> vae.TrainConfig | None:
    """Epochs, batch size, learning rate, KL weight and seed; a TrainConfig or None with a message."""
    left, right = st.columns(2)
    epochs = left.number_input("Epochs (passes over the data)", 1, 500, step=1, key=EPOCHS_KEY,
                               persist_state="session", help="More passes learn more but take longer.")
    batch = left.number_input("Batch size", 1, 4096, step=16, key=BATCH_KEY, persist_state="session",
                              help="Pictures looked at per learning step. 128 is a good start.")
    beta = left.number_input("KL weight (beta)", 0.0, 100.0, step=0.5, format="%.3f", key=BETA_KEY,
                             persist_state="session",
                             help="1 is a plain VAE. Larger values tidy the map but blur the pictures. Choosing a "
                                  "ready-made model sets its recipe's value.")
    left.caption(recipe_beta_note(st.session_state[MODEL_KEY], float(beta)))
    rate = right.number_input("Learning rate", 0.00001, 10.0, step=0.0005, format="%.5f", key=RATE_KEY,
                              persist_state="session",
                              help="Size of each learning step. 0.001 is safe; too large makes training blow up.")
    seed = right.number_input("Seed", 0, 2**31 - 1, step=1, key=SEED_KEY, persist_state="session",
                              help="Same seed and settings give the same model again.")
    warmup, free_bits = train_choices.collapse_options(right, WARMUP_KEY, FREE_BITS_KEY)
    try:
        return vae.TrainConfig(epochs=int(epochs), batch_size=int(batch), learning_rate=float(rate),
                               beta=float(beta), seed=int(seed), kl_warmup=warmup, free_bits=free_bits)
    except vae.VAEError as error:
        st.error(plain(error))
        return None


def recipe_beta_note(model: str, beta: float) -> str:
    """Say which KL weight the chosen preset's recipe trains with, and whether the field still holds it."""
    if model not in vae.PRESETS:
        return "1 is a plain VAE."
    recipe = vae.preset_beta(model)
    said = f"The {model} recipe trains with a KL weight of {recipe:g}"
    return f"{said}." if math.isclose(beta, recipe, abs_tol=5e-4) else f"{said}; you changed it to {beta:g}."


def choose_name() -> str | None:
    """The model name; its sanitized form, or None with a message when it cannot be used."""
    text = st.text_input("Model name", key=NAME_KEY, max_chars=80, persist_state="session",
                         help="Letters, digits, '-' and '_'; other characters become '-'.")
    try:
        path = vae.checkpoint_path(model_access.checkpoint_dir(), text)
    except vae.VAEError as error:
        st.error(plain(error))
        return None
    st.caption(f"It will be saved as `{path.name}` in the models folder.")
    if vae.name_in_training(path.stem, model_access.checkpoint_dir()):
        st.warning(f"A model called {path.stem} is being trained right now; pick another name.")
        return None
    if path.exists():
        st.warning(f"A model called {plain(path.stem)} already exists.")
        st.checkbox(f"Replace the existing model {plain(path.stem)}", key=OVERWRITE_KEY,
                    help="Tick to overwrite it when training ends; otherwise pick another name.")
    return path.stem


def show_capacity() -> None:
    """Say so before Start when the server is already training as many models as it runs at once."""
    count = len(vae.running_jobs(model_access.checkpoint_dir()))  # read from disk: every server's runs
    if count >= vae.MAX_RUNNING_JOBS:
        st.info(f"This server is training {count} models right now, the most it trains at once. Start works "
                f"again as soon as one of them finishes.")


def start_training(name: str, dataset: vae.data.Dataset, model: vae.ModelConfig, train: vae.TrainConfig) -> None:
    """Start a background job for this session, or show why it cannot start."""
    path = vae.checkpoint_path(model_access.checkpoint_dir(), name)
    overwrite = bool(st.session_state.get(OVERWRITE_KEY)) and path.exists()
    try:
        job_id = vae.start_job(name, dataset, model, train, model_access.checkpoint_dir(), overwrite=overwrite)
    except vae.VAEError as error:
        st.error(plain(error))
        return
    st.session_state[JOB_KEY] = job_id
    st.rerun()


def main() -> None:
    st.title("Train a model")
    st.markdown("Teach a new model to squeeze pictures into short codes and redraw them. Training runs in "
                "the background: you can watch it here, stop it, or use other pages meanwhile.")
    settings_defaults()
    job_id = session_job_id()
    job = vae.get_job(job_id, model_access.checkpoint_dir())
    running = job is not None and job.running
    if job is not None and not running:
        offer_next_name(job.snapshot())
    with friendly_errors():
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
        if st.button("Start training", key=START_KEY, type="primary", disabled=running or not ready,
                     help="Your own run is still going; stop it first." if running else "Train with these settings."):
            start_training(name, dataset, model, train)
    if job_id:
        st.divider()
        train_progress.show_area(job_id, running, NAME_KEY)


main()
