"""The app's only cache wrappers, session-state keys and shared UI helpers (no torch here)."""
from __future__ import annotations

import logging
import math
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Callable, Iterator, ParamSpec

import numpy as np
import streamlit as st

import vae
from vae import data as vae_data
from vae import files as vae_files
from vae import images as vae_images
from vae import plots

ROOT = Path(__file__).resolve().parents[2]  # the project folder (this file is pages/common/_shared.py)
# The bundled checkpoints/ folder, or $VAE_CHECKPOINT_DIR when set at start-up.
# Read the folder through checkpoint_dir(): it also sees a VAE_CHECKPOINT_DIR set later (tests do).
CHECKPOINT_DIR = Path(os.environ.get("VAE_CHECKPOINT_DIR", ROOT / "checkpoints"))
DEFAULT_MODEL = "mnist5k-conv-2d"
MAX_SLIDER_DIMS = 64  # the largest latent size the app shows sliders for
LOGGER = logging.getLogger("vae_explorer")

# Session-state keys (UI state only: names, points, choices; never models or tensors).
MODEL_KEY = "model_name"  # stem of the active checkpoint in the checkpoint folder
SIDEBAR_MODEL_KEY = "sidebar_model"  # the sidebar's model selectbox
WARM_UP_ARMED_KEY = "warm_up_armed"  # the page's model loader has been drawn and waits for the browser's timer
WARM_UP_TRIED_KEY = "warm_up_tried"  # this session has loaded (or failed to load) a model once
WARM_UP_DELAY_S = 0.5  # the browser fires the loader this long after drawing it, at its first idle moment
# Datasets torchvision downloads; only the Train page may start that (see load_dataset).
DOWNLOADABLE_DATASETS = tuple(name for name in vae_data.DATASETS if name not in vae_data.OFFLINE_DATASETS)
CALLBACK_ERROR_KEY = "callback_error"  # what a failed widget callback has to say; the next run shows it
# Query parameters that belong to one model's view; dropped when the model changes.
VIEW_PARAMS = ("z", "img", "plane", "hide", "bg", "a", "b", "za", "zb", "steps", "path")
UNEXPECTED_ERROR = ("Something went wrong while drawing this part of the page. Try another choice or reload the page; "
                    "if it keeps happening, pick another model on the Models page.")
Params = ParamSpec("Params")


def checkpoint_dir() -> Path:
    """The folder of the user's checkpoints: $VAE_CHECKPOINT_DIR if set now, else CHECKPOINT_DIR."""
    folder = os.environ.get("VAE_CHECKPOINT_DIR")
    return Path(folder) if folder else CHECKPOINT_DIR


def model_names() -> list[str]:
    """Stems of the checkpoints the user can pick, sorted."""
    return [info.name for info in list_models()]


@st.cache_data(show_spinner=False)
def _list_models_cached(folder: str, stamp: tuple) -> list[vae.CheckpointInfo]:
    return vae.scan_checkpoints(folder)


def _scan_models() -> list[vae.CheckpointInfo]:
    """Every .pt file in the checkpoint folder, usable or not; cached until a file is added, removed or changed."""
    remove_leftovers_once()
    folder = checkpoint_dir()
    return _list_models_cached(str(folder), _folder_stamp(folder))


def _folder_stamp(folder: Path) -> tuple:
    stamp = []
    for path in folder.glob("*.pt"):
        try:
            stamp.append((path.name, path.stat().st_mtime_ns))
        except OSError:  # removed between the listing and the look
            continue
    return tuple(sorted(stamp))


def list_models() -> list[vae.CheckpointInfo]:
    """The checkpoints in the checkpoint folder that can be opened (a file that cannot is never offered)."""
    return [info for info in _scan_models() if not info.problem]


def list_unreadable_models() -> list[vae.CheckpointInfo]:
    """The .pt files in the checkpoint folder that cannot be opened, each with its ``problem``."""
    return [info for info in _scan_models() if info.problem]


@st.cache_resource(show_spinner=False)
def remove_leftovers_once() -> None:
    """Once per server: remove temp files that a killed save or upload left in the data folders.

    The checkpoint folder's are removed by each listing (vae.listing.scan_checkpoints).
    """
    vae_files.remove_stale_temps(vae_data.uploads_folder())


def model_info(name: str) -> vae.CheckpointInfo | None:
    """The listing entry (dataset, latent size, test ELBO, date) of the model called ``name``."""
    return next((info for info in list_models() if info.name == name), None)


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_model_cached(path: str, mtime_ns: int) -> vae.LatentModel:
    return vae.load_model(path)


def models_ready() -> bool:
    """Whether models load at once: torch is imported in this server (or this session already tried to)."""
    return vae.runtime_loaded() or bool(st.session_state.get(WARM_UP_TRIED_KEY))


def wait_for_models(name: str) -> None:
    """Say the model is loading, then load it once the browser has drawn the page, and redraw the page.

    On a server's first page view torch is not imported yet (about 2 s of CPU). Importing it at
    once would compete with the browser drawing the page; the nested fragment's timer runs in the
    browser, so it fires only when the browser is idle, i.e. once the map is on screen.
    """
    st.caption("Loading the model… (only on the first visit after the app starts)")
    _load_when_idle(name)


@st.fragment(run_every=WARM_UP_DELAY_S)
def _load_when_idle(name: str) -> None:
    if not st.session_state.get(WARM_UP_ARMED_KEY):  # the first call runs inline with the page: only arm
        st.session_state[WARM_UP_ARMED_KEY] = True
        return
    st.session_state[WARM_UP_ARMED_KEY] = False
    st.session_state[WARM_UP_TRIED_KEY] = True  # a failed import must not retry forever: the page shows the error
    with friendly_errors():
        load_model(name)
    st.rerun()


def latent_size(name: str) -> int:
    """The model's number of latent dims, read from the file's settings (the model is not loaded)."""
    info = model_info(name)
    return info.latent_dim if info is not None else load_model(name).latent_dim


def model_stamp(name: str) -> tuple[str, int]:
    """(path, modification time in ns) of the model called ``name``: the key of every per-model cache."""
    path = vae.checkpoint_path(checkpoint_dir(), name)
    if not path.is_file():
        raise vae.CheckpointError(f"There is no model called {name!r} any more. Pick another on the Models page.")
    return str(path), path.stat().st_mtime_ns


def load_model(name: str) -> vae.LatentModel:
    """The model called ``name`` (eval mode, shared read-only across sessions)."""
    return _load_model_cached(*model_stamp(name))


def active_model_name() -> str | None:
    """The chosen model's name: session state, else the ?model= link, else the default, else the first."""
    names = model_names()
    wanted = st.session_state.get(MODEL_KEY) or st.query_params.get("model")
    for candidate in (wanted, DEFAULT_MODEL):
        if candidate in names:
            st.session_state[MODEL_KEY] = candidate
            return candidate
    if names:
        st.session_state[MODEL_KEY] = names[0]
        return names[0]
    return None


def set_active_model(name: str) -> None:
    """Make ``name`` the active model and put it in the shareable link."""
    if st.session_state.get(MODEL_KEY) != name:
        for param in VIEW_PARAMS:  # a point of one model means nothing in another
            st.query_params.pop(param, None)
    st.session_state[MODEL_KEY] = name
    st.query_params["model"] = name


def show_no_model_yet() -> None:
    """Tell the user where models come from (there is none in the folder)."""
    st.info("There is no model yet. Train one on the **Train** page or upload one on the **Models** page.")


def active_model() -> vae.LatentModel | None:
    """The active model, or None (with a message on the page) when there is none or it is broken."""
    name = active_model_name()
    if name is None:
        show_no_model_yet()
        return None
    try:
        return load_model(name)
    except vae.VAEError as error:
        st.error(plain(error))
        return None


@st.cache_resource(show_spinner="Loading the images…", max_entries=4)
def load_dataset(name: str, _allow_download: bool = False) -> vae_data.Dataset:
    """A dataset by name, shared read-only (not copied per call: full MNIST is 220 MB).

    Nothing is downloaded unless ``_allow_download`` is set: only the Train page does that, when
    the user picks the dataset. A model that names mnist must not make the app fetch 50 MB when
    a page shows it. (The leading underscore keeps the flag out of the cache key: once the images
    are here, every page shares them.)
    """
    try:
        return vae_data.load_dataset(name, download=_allow_download)
    except vae.DataError:
        if _allow_download or name.strip().lower() not in DOWNLOADABLE_DATASETS:
            raise
        raise vae.DataError(f"The {name} images are not on this machine yet, so they are not shown. To get them, "
                            f"choose {name} under 'Images to learn from' on the Train page (it downloads them "
                            f"once, which needs the internet), or copy their files into the app's data folder "
                            f"as the README explains.") from None


def clear_model_caches() -> None:
    """Forget cached models and latents after a checkpoint was saved, replaced or deleted."""
    _load_model_cached.clear()
    _list_models_cached.clear()
    _encode_test_set_cached.clear()
    _plane_cached.clear()
    _manifold_png_cached.clear()


# ---------------------------------------------------------------- text

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark: CommonMark lets "\" quote each
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")  # control characters and line breaks
_ADDRESS_STARTS = re.compile(r"(?i)https?:(?=//)|www(?=\.)|@")  # where GFM's bare links ("autolink literals") start
WORD_JOINER = "\u2060"  # an invisible character that splits a bare address, so GFM sees no link


def plain(text: object) -> str:
    """``text`` ready for st.markdown, st.caption, st.info, st.warning, st.error, widget labels and pills,
    shown exactly as typed.

    Those read Markdown (links, images, ``:red[...]``, ``$maths$``). Every string a user or a file
    controls (model, dataset, class and file names, values from the link, error messages that quote
    them) goes through here: each ASCII punctuation mark gets a backslash, so no Markdown is left;
    line breaks and control characters become spaces, so nothing starts a new block; and because
    GitHub-flavoured Markdown turns bare addresses ("http://", "www.", "a@b.c") into links even
    after escaping, an invisible word joiner splits each of them. Plain-text widgets (selectbox
    options, dataframes) and the canvas map must get the raw text instead.
    """
    text = _LINE_BREAKS.sub(" ", str(text))
    text = _ADDRESS_STARTS.sub(lambda match: match.group(0) + WORD_JOINER, text)
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


# ---------------------------------------------------------------- errors


@contextmanager
def friendly_errors(already_shown: str | None = None) -> Iterator[None]:
    """Show any error inside the block as a plain message, never a traceback.

    A ``vae.VAEError`` already says what to do; anything else is logged for the developers.
    Streamlit's own rerun/stop signals are BaseExceptions and pass through untouched. A message
    equal to ``already_shown`` (a failed callback's, shown just before) is not shown twice.
    """
    try:
        yield
    except vae.VAEError as error:
        if str(error) != already_shown:
            st.error(plain(error))
    except Exception:  # noqa: BLE001 - the page must survive any bad input
        LOGGER.exception("Unexpected error on a page")
        if already_shown != UNEXPECTED_ERROR:
            st.error(UNEXPECTED_ERROR)


def guarded(callback: Callable[Params, None]) -> Callable[Params, None]:
    """``callback`` made safe for a widget's on_change/on_click: an error becomes a plain message, never a traceback.

    Callbacks run before the page, outside its ``friendly_errors``; the message waits in session
    state until :func:`show_callback_error` shows it (e.g. the model was deleted in another tab).
    """
    @wraps(callback)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except vae.VAEError as error:
            st.session_state[CALLBACK_ERROR_KEY] = str(error)
        except Exception:  # noqa: BLE001 - a click must never show a traceback
            LOGGER.exception("Unexpected error in a widget callback")
            st.session_state[CALLBACK_ERROR_KEY] = UNEXPECTED_ERROR

    return run


def show_callback_error() -> str | None:
    """Show the message of a callback that failed just before this run (once); returns it, or None."""
    message = st.session_state.pop(CALLBACK_ERROR_KEY, None)
    if message:
        st.error(plain(message))
    return message


# ---------------------------------------------------------------- sidebar


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
    """A few plain facts about a model: dataset, latent size, test ELBO."""
    info = model_info(name)
    if info is None:
        return
    elbo = "not measured" if info.test_elbo is None else f"{info.test_elbo:.1f}"
    st.markdown(f"**{plain(info.name)}**  \nData: {plain(info.dataset)}  \nLatent size: {info.latent_dim}  \n"
                f"Test ELBO: {elbo}",
                help="ELBO: how well the model explains unseen test images (higher is better).")


# ---------------------------------------------------------------- latents and planes


@st.cache_data(show_spinner="Encoding the test images…", max_entries=8)
def _encode_test_set_cached(path: str, mtime_ns: int) -> vae.TestCodes:
    """The saved codes when they fit the file and its dataset (no torch needed), else encode and save them."""
    saved = _saved_codes(path)
    if saved is not None:
        return saved
    model = _load_model_cached(path, mtime_ns)
    dataset = model_dataset(model)
    codes = vae.encode_test_codes(model, dataset.test_images, dataset.test_labels,
                                  tuple(model.class_names or dataset.class_names), dataset.name)
    try:
        vae.write_test_codes(path, codes, vae_data.dataset_version(dataset.name))
    except OSError:  # a read-only folder: the codes are simply made again next time
        LOGGER.warning("Could not save the test-image codes of %s", path, exc_info=True)
    return codes


def _saved_codes(path: str) -> vae.TestCodes | None:
    try:
        dataset_name = vae.read_info(path).dataset
    except vae.VAEError:  # not in this app's format (a classic state_dict): no saved codes
        return None
    saved = vae.read_test_codes(path, vae_data.dataset_version(dataset_name))
    return saved if saved is not None and saved.dataset == dataset_name else None


def model_dataset(model: vae.LatentModel) -> vae_data.Dataset:
    """The dataset the model was trained on; a DataError when it cannot be loaded or does not fit."""
    if not model.dataset:
        raise vae.DataError("This model does not say which images it was trained on, so no test images are shown.")
    dataset = load_dataset(model.dataset)
    if tuple(dataset.image_shape) != tuple(model.image_shape):
        raise vae.DataError(f"The {model.dataset} images are {dataset.image_shape}, but the model reads "
                            f"{tuple(model.image_shape)}; no test images are shown.")
    return dataset


def encode_test_set(name: str) -> vae.TestCodes:
    """The latent means of the model's test images (cached per checkpoint file version)."""
    return _encode_test_set_cached(*model_stamp(name))


def test_image(name: str, index: int) -> np.ndarray:
    """Test image number ``index`` of the model's dataset: (H, W) in [0, 1]."""
    dataset = model_dataset(load_model(name))
    return dataset.test_images[int(index)]


@dataclass(frozen=True)
class Plane:
    """What the latent plane shows: the projection, the images' positions on it and the fixed ranges."""

    projection: vae.Projection
    points2d: np.ndarray  # (N, 2) float32; empty when no test images are available
    labels: np.ndarray  # (N,)
    class_names: tuple[str, ...]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    dim_ranges: tuple[tuple[float, float], ...]  # slider range of every latent dim
    note: str  # why there are no data points, or ""

    @property
    def axis_titles(self) -> tuple[str, str]:
        """Plain axis names."""
        return self.projection.labels


@st.cache_data(show_spinner=False, max_entries=32)
def _plane_cached(path: str, mtime_ns: int, method: str, dims: tuple[int, int]) -> Plane:
    try:  # from the saved codes when there are some: then no model (and no torch) is needed here
        latents = _encode_test_set_cached(path, mtime_ns)
        means, labels, names, note = latents.means, latents.labels, latents.class_names, ""
    except vae.VAEError as error:
        model = _load_model_cached(path, mtime_ns)
        means = np.zeros((0, model.latent_dim), np.float32)
        labels, names, note = np.zeros(0, np.int64), tuple(model.class_names), str(error)
    labels, names = plots.plot_classes(labels, names)  # at most MAX_CLASSES, whatever the file's labels say
    latent_dim = means.shape[1]
    use_pca = method == "pca" and len(means) >= 2
    projection = vae.plane_projection(means, latent_dim, "pca" if use_pca else "dims", dims)
    points2d = projection.to_2d(means) if len(means) else np.zeros((0, 2), np.float32)
    dim_ranges = tuple(plots.axis_range(means[:, d]) for d in range(latent_dim))
    return Plane(projection, points2d, labels, names, plots.axis_range(points2d[:, 0]),
                 plots.axis_range(points2d[:, 1]), dim_ranges, note)


def latent_plane(name: str, method: str = "pca", dims: tuple[int, int] = (0, 1)) -> Plane:
    """The 2-D plane for the model: its own plane for a 2-D latent, else PCA (default) or two dims."""
    return _plane_cached(*model_stamp(name), method, (int(dims[0]), int(dims[1])))


def clicked_test_image(point: dict, plane: Plane) -> int | None:
    """The test image number of a clicked dot (class trace k + 1 is class k), or None for the grid and the rest."""
    curve = int(point.get("curve_number", 0))
    if not 1 <= curve <= plots.class_count(plane.labels, plane.class_names):
        return None
    custom = point.get("customdata")
    if isinstance(custom, list):
        custom = custom[0] if custom else None
    if custom is not None:
        return int(custom)
    members = np.flatnonzero(plane.labels == curve - 1)
    return int(members[int(point.get("point_index", 0))])


@st.cache_data(show_spinner="Decoding the background…", max_entries=64)
def _manifold_png_cached(path: str, mtime_ns: int, method: str, dims: tuple[int, int],
                         base: tuple[float, ...] | None) -> str:
    model = _load_model_cached(path, mtime_ns)
    plane = _plane_cached(path, mtime_ns, method, dims)
    grid = model.manifold_grid(20, plane.x_range, plane.y_range, plane.projection,
                               None if base is None else np.asarray(base, np.float32))
    return plots.png_data_uri(vae_images.png_bytes(vae_images.tile(grid, padding=0)))


def manifold_png(name: str, method: str, dims: tuple[int, int], base: np.ndarray | None) -> str:
    """A 20x20 grid of decoded images covering the plane, as a PNG data URI (cached)."""
    key = None if base is None else tuple(round(float(v), 3) for v in base)
    return _manifold_png_cached(*model_stamp(name), method, (int(dims[0]), int(dims[1])), key)


# ---------------------------------------------------------------- points in links


def format_latent(z: np.ndarray) -> str:
    """A latent point for a link: comma-separated, 4 decimals."""
    return ",".join(f"{float(v):.4f}" for v in np.asarray(z).ravel())


def parse_latent(text: str, latent_dim: int) -> np.ndarray:
    """Read a comma-separated latent point; ValueError with a plain reason when it is not one."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ValueError("it is not a list of numbers separated by commas") from None
    if len(values) != latent_dim:
        raise ValueError(f"it has {len(values)} numbers but this model's latent size is {latent_dim}")
    if not all(math.isfinite(v) and abs(v) < 1e4 for v in values):
        raise ValueError("it contains a number that is too large or not a number")
    return np.asarray(values, np.float32)


def parse_index(text: str, count: int) -> int:
    """Read an image number 0..count-1; ValueError with a plain reason otherwise."""
    try:
        index = int(str(text).strip())
    except ValueError:
        raise ValueError("it is not a whole number") from None
    if not 0 <= index < count:
        raise ValueError(f"there are only {count} test images (numbers 0 to {count - 1})")
    return index


def warn_bad_link(param: str, reason: str) -> None:
    """A gentle note that part of the link was ignored; the bad parameter is removed from the link."""
    value = str(st.query_params.get(param, ""))
    shown = value if len(value) <= 40 else value[:37] + "..."
    st.warning(f"Part of the link was ignored ({param}={plain(shown)}): {plain(reason)}.")
    st.query_params.pop(param, None)


# ---------------------------------------------------------------- uploads


def import_checkpoint(data: bytes, name: str, replace: bool = False) -> str:
    """Check an uploaded checkpoint and save it as ``name`` in the checkpoint folder; returns the stem.

    The upload is written to a hidden temp folder beside the checkpoints and fully loaded first,
    so a corrupt or unsafe file never reaches the list (a killed check leaves only that folder,
    which a later listing removes). Our own format is copied byte for byte; a classic PyTorch-
    example state_dict is converted to our format. Either way the final write is atomic.
    """
    folder = checkpoint_dir()
    target = vae.checkpoint_path(folder, name)
    if target.exists() and not replace:
        raise vae.CheckpointError(f"A model called {target.stem!r} already exists. Choose another name, "
                                  f"or tick 'Replace the existing model'.")
    scratch = vae_files.make_temp_folder(folder, "upload")
    try:
        upload = scratch / target.name
        upload.write_bytes(data)
        raw, model = read_upload(upload)
        if raw.get("imported_from"):
            vae.save_checkpoint(target, model.module, dataset=model.dataset, class_names=model.class_names)
        else:
            vae_files.write_atomically(target, data)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    clear_model_caches()
    return target.stem


def read_upload(path: Path) -> tuple[dict, vae.LatentModel]:
    """Read and rebuild an uploaded checkpoint; any failure on arbitrary bytes becomes a CheckpointError."""
    try:
        return vae.read_checkpoint(path), vae.load_model(path)
    except vae.VAEError:
        raise
    except Exception:  # noqa: BLE001 - unpicklers raise all sorts of errors on random bytes
        LOGGER.warning("Unreadable upload", exc_info=True)
        raise vae.CheckpointError("The uploaded file could not be read as a checkpoint: it is truncated, corrupt "
                                  "or not a PyTorch .pt file. Save or download it again.") from None


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluate_cached(name: str, path: str, mtime_ns: int, samples: int, max_images: int) -> dict[str, float]:
    model = load_model(name)  # imports torch: only when metrics are asked for
    return vae.evaluate(model, model_dataset(model), nll_samples=samples, max_images=max_images)


def evaluate_model(name: str, samples: int = 100, max_images: int = 500) -> dict[str, float]:
    """Test ELBO, NLL, kNN accuracy and active units of a model, cached per checkpoint file version."""
    path, mtime_ns = model_stamp(name)
    return _evaluate_cached(name, path, mtime_ns, samples, max_images)
