"""The models in the checkpoint folder: listing, loading (cached, shared read-only), the active model, warm-up."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

import vae
from pages.common.errors import friendly_errors
from pages.common.links import VIEW_PARAMS
from pages.common.text import plain

ROOT = Path(__file__).resolve().parents[2]  # the project folder (this file is pages/common/model_access.py)
# The bundled checkpoints/ folder, or $VAE_CHECKPOINT_DIR when set at start-up.
# Read the folder through checkpoint_dir(): it also sees a VAE_CHECKPOINT_DIR set later (tests do).
CHECKPOINT_DIR = Path(os.environ.get("VAE_CHECKPOINT_DIR", ROOT / "checkpoints"))
DEFAULT_MODEL = "mnist5k-conv-2d"

# Session-state keys (UI state only: names, points, choices; never models or tensors).
MODEL_KEY = "model_name"  # stem of the active checkpoint in the checkpoint folder
WARM_UP_ARMED_KEY = "warm_up_armed"  # the page's model loader has been drawn and waits for the browser's timer
WARM_UP_TRIED_KEY = "warm_up_tried"  # this session has loaded (or failed to load) a model once
WARM_UP_DELAY_S = 0.5  # the browser fires the loader this long after drawing it, at its first idle moment


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

    The checkpoint folder's are removed by each listing (vae.io.listing.scan_checkpoints).
    """
    vae.files.remove_stale_temps(vae.data.uploads_folder())


def model_info(name: str) -> vae.CheckpointInfo | None:
    """The listing entry (dataset, latent size, test ELBO, date) of the model called ``name``."""
    return next((info for info in list_models() if info.name == name), None)


@st.cache_resource(show_spinner=False, max_entries=8)
def load_model_at(path: str, mtime_ns: int) -> vae.LatentModel:
    """The model in the file ``path`` as it was at ``mtime_ns`` (eval mode, shared read-only across sessions)."""
    return vae.load_model(path)


def clear_caches() -> None:
    """Forget the cached models and the cached listing (after a checkpoint was saved, replaced or deleted)."""
    load_model_at.clear()
    _list_models_cached.clear()


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
    return load_model_at(*model_stamp(name))


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
