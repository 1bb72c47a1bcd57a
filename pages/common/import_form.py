"""The Models page's import form: a model file from another program, read by its shapes, confirmed by the user."""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

import vae
from pages.common import caches, datasets, model_access, train_choices
from pages.common.errors import LOGGER, save_failed_words
from pages.common.text import plain

# Session-state keys (UI state only).
FILLED_FOR_KEY = "import_filled_for"  # the upload whose detected answers the form was filled with
FORM_KEY = "import_form"
HEADS_KEY = "import_heads"
SPREAD_KEY = "import_spread"
SIZE_KEY = "import_size"
OUTPUT_KEY = "import_output"
NORMALIZE_MEAN_KEY = "import_normalize_mean"
NORMALIZE_STD_KEY = "import_normalize_std"
DATASET_KEY = "import_dataset"
IMPORT_KEY = "import_confirm"

NO_DATASET = "none"  # the dataset box's "none of these" entry; no dataset has this name (uploads are upload:<stem>)
SPREAD_WORDS = {
    "log-var": "log-variance: std = exp(s / 2), as in most PyTorch and Keras tutorials",
    "log-std": "log standard deviation: std = exp(s)",
}
OUTPUT_WORDS = {
    "sigmoid": "sigmoid: the decoder's pictures are in [0, 1]",
    "none": "none: the decoder ends with a plain linear layer",
}
MIN_STD = 1e-4  # the normalisation's std: transforms.Normalize divides by it


def show_import_form(upload, name: str, replace: bool, on_imported: Callable[[str, str], None]) -> bool:
    """The form for a file that is not this app's checkpoint; False when it is one (the page adds it as it is).

    A file that cannot be imported (a pickled whole model, a damaged file) gets its message and no form.
    ``on_imported(saved_name, message)`` runs after a successful import.
    """
    try:
        with st.spinner("Reading the file…"):
            questions = inspect_upload(upload.file_id, upload.name, upload.getvalue())
    except vae.VAEError as error:
        st.error(plain(error))
        return True
    except Exception:  # noqa: BLE001 - readers of arbitrary bytes raise all sorts of errors
        LOGGER.warning("Unreadable model upload", exc_info=True)
        st.error("The file could not be read as a model: it is truncated, corrupt or of another kind. Save or "
                 "download it again.")
        return True
    if questions is None:
        return False
    fill_detected_answers(upload.file_id, questions)
    show_findings(questions)
    with st.form(FORM_KEY):
        ask_questions(questions)
        choose_dataset()
        submitted = st.form_submit_button("Import model", key=IMPORT_KEY, type="primary")
    if submitted:
        confirm_import(upload, name, replace, on_imported)
    return True


@st.cache_data(show_spinner=False, max_entries=4)
def inspect_upload(file_id: str, file_name: str, _data: bytes) -> vae.ImportQuestions | None:
    """What an uploaded file holds (None for this app's own checkpoint), read once per upload (imports torch)."""
    with uploaded_copy(_data, file_name) as source:
        return vae.inspect_model_file(source)


@contextmanager
def uploaded_copy(data: bytes, file_name: str) -> Iterator[Path]:
    """The upload as a file in a hidden temp folder beside the checkpoints, removed afterwards (a killed run's
    folder is removed by a later listing)."""
    scratch = vae.files.make_temp_folder(model_access.checkpoint_dir(), "upload")
    try:
        source = scratch / train_choices.upload_file_name(file_name)
        source.write_bytes(data)
        yield source
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fill_detected_answers(file_id: str, questions: vae.ImportQuestions) -> None:
    """Preselect the detected answers once per uploaded file (the user's changes are kept after that)."""
    if st.session_state.get(FILLED_FOR_KEY) == file_id:
        return
    answers = questions.answers
    st.session_state.update({
        FILLED_FOR_KEY: file_id, HEADS_KEY: questions.heads[0], SPREAD_KEY: answers.spread,
        SIZE_KEY: questions.image_sizes[0], OUTPUT_KEY: answers.output,
        NORMALIZE_MEAN_KEY: float(answers.normalize[0]), NORMALIZE_STD_KEY: float(answers.normalize[1]),
        DATASET_KEY: None,  # always asked: a Fashion-MNIST model must not get digit labels by default
    })


def show_findings(questions: vae.ImportQuestions) -> None:
    """What the file holds, what the user must decide and what was assumed, as plain text."""
    st.markdown("**This file is not a checkpoint of this app.** It was read by the shapes of its layers; the "
                "answers below are what was detected. Check them, name the images the model was trained on, "
                "then import it.")
    st.caption(plain(f"Found in {questions.file_name}: {questions.structure}."))
    for question in questions.questions:
        st.warning(plain(question))
    for note in questions.notes:
        st.caption(plain(note))


def ask_questions(questions: vae.ImportQuestions) -> None:
    """The layers, spread, image size, output and input scaling widgets, preselected with the detected answers."""
    st.selectbox("Layers that give the means and the spreads", questions.heads, key=HEADS_KEY,
                 format_func=describe_heads,
                 help="The encoder's two last layers: one gives each code's means, the other how spread out it is.")
    st.selectbox("What the spread layer gives", list(SPREAD_WORDS), key=SPREAD_KEY, format_func=SPREAD_WORDS.get,
                 help="Look at the training code: std = exp(0.5 * s) means log-variance; std = exp(s) means "
                      "log standard deviation.")
    st.selectbox("Image size (height x width)", questions.image_sizes, key=SIZE_KEY,
                 format_func=lambda size: f"{size[0]}x{size[1]} pixels")
    st.selectbox("Last step of the decoder", list(OUTPUT_WORDS), key=OUTPUT_KEY, format_func=OUTPUT_WORDS.get)
    left, right = st.columns(2)
    left.number_input("Input normalisation: mean", -10.0, 10.0, step=0.1, format="%.4f", key=NORMALIZE_MEAN_KEY,
                      help="The training script's transforms.Normalize(mean, std). Mean 0 and std 1: none "
                           "(pictures in [0, 1]). Normalize(0.5, 0.5) made inputs in [-1, 1].")
    right.number_input("Input normalisation: std", MIN_STD, 10.0, step=0.1, format="%.4f", key=NORMALIZE_STD_KEY)


def describe_heads(heads: tuple[str, str]) -> str:
    """'means: fc21, spreads: fc22', or one layer giving both (split in half); plain text for a selectbox."""
    mean, spread = heads
    if mean == spread:
        return f"{mean}: the means, then the spreads (one layer split in half)"
    return f"means: {mean}, spreads: {spread}"


def choose_dataset() -> None:
    """The dataset box: the app's datasets and the user's uploads, or none; never preselected."""
    options = [NO_DATASET, *(name for name in train_choices.dataset_options() if name != train_choices.UPLOAD_CHOICE)]
    st.selectbox("Images the model was trained on", options, key=DATASET_KEY, format_func=describe_dataset,
                 placeholder="Choose the images it was trained on",
                 help="The Latent space map shows the test images of this dataset with its class names. "
                      "Choose none if it is not listed: the model still decodes any point.")


def describe_dataset(name: str) -> str:
    """The dataset box's entry for ``name``."""
    if name == NO_DATASET:
        return "None of these / not listed (no test images or classes are shown)"
    return train_choices.describe_dataset(name)


def chosen_answers() -> vae.ImportChoices:
    """The form's answers as import choices (every field filled)."""
    mean, spread = st.session_state[HEADS_KEY]
    return vae.ImportChoices(  # imports torch, already loaded by the file's inspection
        mean_layer=mean, spread_layer=spread, spread=st.session_state[SPREAD_KEY],
        image_size=tuple(st.session_state[SIZE_KEY]), output=st.session_state[OUTPUT_KEY],
        normalize=(float(st.session_state[NORMALIZE_MEAN_KEY]), float(st.session_state[NORMALIZE_STD_KEY])))


def confirm_import(upload, name: str, replace: bool, on_imported: Callable[[str, str], None]) -> None:
    """Import with the form's answers, or say in words why not (nothing is saved then)."""
    dataset = st.session_state.get(DATASET_KEY)
    if dataset is None:
        st.error("Choose the images the model was trained on (or “None of these”), then press Import model again.")
        return
    try:
        with st.spinner("Importing the model…"):
            saved = import_upload(upload.getvalue(), upload.name, chosen_answers(), dataset, name, replace)
    except vae.VAEError as error:
        st.error(plain(error))
        return
    except OSError as error:  # the message names no server path
        st.error(save_failed_words(error))
        return
    trained_on = (" It names no images, so no test images or classes are shown." if dataset == NO_DATASET
                  else f" Its images: {plain(train_choices.describe_dataset(dataset))}.")
    on_imported(saved, f"Imported **{plain(saved)}** and made it the model in use.{trained_on}")


def import_upload(
    data: bytes, file_name: str, choices: vae.ImportChoices, dataset_choice: str, name: str, replace: bool,
) -> str:
    """Convert the upload with the user's answers and save it as ``name`` in the checkpoint folder; returns the stem."""

    target = vae.checkpoint_path(model_access.checkpoint_dir(), name)
    if target.exists() and not replace:
        raise vae.CheckpointError(f"A model called {target.stem!r} already exists. Choose another name, "
                                  f"or tick 'Replace the existing model'.")
    dataset_name, dataset = ("", None) if dataset_choice == NO_DATASET else (dataset_choice, loaded(dataset_choice))
    with uploaded_copy(data, file_name) as source:
        vae.save_imported_model(source, target, choices, dataset_name, dataset)
    caches.clear_model_caches()
    return target.stem


def loaded(dataset_name: str) -> vae.data.Dataset | None:
    """The dataset's images, or None for a set the app downloads that is not here yet (its name is stored)."""
    try:
        return datasets.load_dataset(dataset_name)
    except vae.DataError:
        if dataset_name in datasets.DOWNLOADABLE_DATASETS:
            return None
        raise
