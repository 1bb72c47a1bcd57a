"""Shared fixtures: tiny models and data built in memory or tmp_path; nothing touches the network."""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from vae.config import ModelConfig, TrainConfig
from vae.models import build_model


@pytest.fixture
def tiny_images() -> np.ndarray:
    """64 random 8x8 images in [0, 1]: (64, 8, 8)."""
    return np.random.default_rng(0).random((64, 8, 8), dtype=np.float32)


@pytest.fixture
def tiny_config() -> ModelConfig:
    """A small MLP for 8x8 images with a 2-D latent."""
    return ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(16,))


@pytest.fixture
def tiny_model(tiny_config):
    """An untrained, seeded tiny MLP in eval mode."""
    return build_model(tiny_config, seed=0).eval()


@pytest.fixture
def quick_train() -> TrainConfig:
    """Two short epochs."""
    return TrainConfig(epochs=2, batch_size=16, seed=0)


class _RunsCode:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        import os

        return (os.system, ("touch ran-code-marker",))


def make_bad_checkpoints(folder) -> dict[str, bytes]:
    """One file's bytes for each way a checkpoint can be bad (issue: clear errors in CLI and app)."""
    import io

    import torch

    from vae.checkpoints import FORMAT_VERSION, save_checkpoint

    good = save_checkpoint(folder / "good.pt", build_model(ModelConfig(image_shape=(8, 8), hidden_sizes=(8,)), seed=0),
                           dataset="digits", class_names=[str(i) for i in range(10)])
    raw = torch.load(good, weights_only=True)

    def saved(payload) -> bytes:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    return {
        "runs-code": saved({"format": "vae-latent-explorer", "payload": _RunsCode()}),
        "truncated": good.read_bytes()[:700],
        "wrong-architecture": saved({**raw, "model_config": {**raw["model_config"], "kind": "transformer"}}),
        "newer-format": saved({**raw, "format_version": FORMAT_VERSION + 1}),
        "mismatched-shapes": saved({**raw, "state_dict": {**raw["state_dict"], "fc_mu.weight": torch.zeros(5, 8)}}),
    }


BAD_CHECKPOINT_MESSAGES = {
    "runs-code": "run code",
    "truncated": "truncated or corrupt",
    "wrong-architecture": "architecture",
    "newer-format": "newer version",
    "mismatched-shapes": "do not fit",
}


# ------------------------------------------------------------------ the Latent space map in AppTest


def decode_map(data: dict) -> dict:
    """The map component's data with its base64 arrays decoded: "points" (N, 2) float32 and "label_array" (N,)."""
    x = np.frombuffer(base64.b64decode(data["x"]), dtype="<f4")
    y = np.frombuffer(base64.b64decode(data["y"]), dtype="<f4")
    labels = np.frombuffer(base64.b64decode(data["labels"]), dtype="<u2")
    return {**data, "points": np.stack([x, y], axis=1), "label_array": labels.astype(np.int64)}


def latent_map(at, index: int = 0) -> dict:
    """What the Latent space map (a components.v2 element) was sent in the last run, decoded."""
    return decode_map(json.loads(at.get("bidi_component")[index].proto.json))


def map_event(at, event: str, value, index: int = 0):
    """Simulate the map's ``event`` ("click" or "legend") as the browser sends it: a trigger value, then a rerun."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    element = at.get("bidi_component")[index]
    trigger_id = f"$$STREAMLIT_INTERNAL_KEY_{element.proto.id}__events"  # components.v2's trigger aggregator
    states = WidgetStates()
    states.widgets.extend(state for state in at._tree.get_widget_states().widgets if state.id != trigger_id)
    injected = states.widgets.add()
    injected.id = trigger_id
    injected.json_trigger_value = json.dumps([{"event": event, "value": value}])
    return at._run(states)


def plotly_select(at, selection: object, index: int = 0):
    """Simulate what a plotly chart (Interpolate's map) sends on a click: its selection state, then a rerun.

    ``selection`` is sent as given (a dict like {"points": [{"x": .., "y": .., "curve_number": ..}]},
    or anything else a tampered browser could send); the chart's on_select callback fires.
    """
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    chart = at.get("plotly_chart")[index]
    states = WidgetStates()
    states.widgets.extend(state for state in at._tree.get_widget_states().widgets if state.id != chart.proto.id)
    injected = states.widgets.add()
    injected.id = chart.proto.id
    injected.string_value = json.dumps({"selection": selection})  # NaN and Infinity pass, as JSON.parse lets them
    return at._run(states)


# ------------------------------------------------------------------ pictures and downloads in AppTest


class Media:
    """The files AppTest pages handed to Streamlit's media store: the bytes behind st.image and downloads.

    AppTest swaps in a fresh media store for every run and drops it afterwards, so the fixture
    ``media`` records every file as it is stored, the width each st.image asked for, and the
    deferred downloads (made only when clicked), which ``download`` runs as a click would.
    """

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}  # file id -> (bytes, mimetype)
        self.makers: dict[str, object] = {}  # deferred download id -> the MediaFileManager that can make it
        self.widths: dict[str, object] = {}  # image URL -> the width given to st.image ("content" or pixels)

    def image(self, img) -> tuple[bytes, str, object]:
        """One picture of an st.image element (``element.proto.imgs[i]``): (bytes, mimetype, width asked for)."""
        data, mimetype = self.files[_file_id(img.url)]
        return data, mimetype, self.widths.get(img.url)

    def download(self, button) -> tuple[bytes, str]:
        """What a download button would save: (bytes, mimetype); a deferred one is made now, as on a click."""
        url = button.proto.url
        if button.proto.deferred_file_id:
            url = self.makers[button.proto.deferred_file_id].execute_deferred(button.proto.deferred_file_id)
        return self.files[_file_id(url)]


def _file_id(url: str) -> str:
    return url.rsplit("/", 1)[-1].split(".", 1)[0]


@pytest.fixture
def media(monkeypatch) -> Media:
    """Record the pictures and downloads of AppTest runs (see :class:`Media`)."""
    from streamlit.elements.lib import image_utils
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    recorded = Media()
    store, defer = MemoryMediaFileStorage.load_and_get_id, MediaFileManager.add_deferred
    to_url = image_utils.image_to_url

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        file_id = store(self, path_or_data, mimetype, kind, filename)
        recorded.files[file_id] = (self.get_file(file_id).content, mimetype)
        return file_id

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        file_id = defer(self, data_callable, mimetype, coordinates, file_name, **kwargs)
        recorded.makers[file_id] = self
        return file_id

    def image_to_url(image, layout_config, *args, **kwargs):
        url = to_url(image, layout_config, *args, **kwargs)
        recorded.widths[url] = layout_config.width
        return url

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    monkeypatch.setattr(image_utils, "image_to_url", image_to_url)
    return recorded
# ------------------------------------------------------------------ AppTest through app.py


@pytest.fixture
def through_app_py(monkeypatch) -> None:
    """Make AppTest run app.py (its sidebar and st.navigation) on every run, as the live server does.

    A folder called pages/ next to app.py makes AppTest (which resets the flag before each run) use the
    old pages-folder mode, where switch_page runs the page file alone. (tests/test_app_explore.py has
    its own autouse copy of this.)
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


# ------------------------------------------------------------------ text as the user reads it


def shown_text(markdown: str) -> str:
    """What a reader sees of a Markdown body: CommonMark's backslash escapes undone (a backslash before an
    ASCII punctuation mark shows that mark), invisible word joiners (U+2060) dropped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown)).replace("\u2060", "")



_ESCAPED_MARK = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation shows that mark
# GFM's bare links ("autolink literals") as Streamlit's front end finds them in the text, escapes already undone
# (mdast-util-gfm-autolink-literal, in streamlit/static/.../StreamlitMarkdown*.js).
GFM_BARE_LINK = re.compile(r"(?i)(https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(\.[-\w]+)+")
MARKDOWN_SYNTAX = set("[]<>`$_")  # none of these is live in the app's own messages; any live one came from a name


def assert_shown_as_text(body: str, raw: str) -> None:
    """A Markdown ``body`` shows ``raw`` as typed (line breaks as spaces), with no live link, image or HTML.

    Independent of the app's escaping: the live characters are those left after removing every escaped
    pair, and the text Markdown sees after undoing the escapes must hold no bare address GFM would link.
    """
    expected = re.sub(r"[\x00-\x1f\x7f]+", " ", raw)
    assert expected in shown_text(body), (body, raw)
    live = _ESCAPED_MARK.sub("", body)
    assert not MARKDOWN_SYNTAX & set(live), (body, sorted(MARKDOWN_SYNTAX & set(live)))
    assert "](" not in live and "![" not in live, body
    assert not GFM_BARE_LINK.search(_ESCAPED_MARK.sub(r"\1", body)), body
