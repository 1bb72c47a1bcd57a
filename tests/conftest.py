"""Shared fixtures: tiny models and data built in memory or tmp_path; nothing touches the network."""
from __future__ import annotations

import base64
import json
from pathlib import Path

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


MAP_COMPONENT = "vae_explorer.latent_map"  # pages/common/_latent_map.py COMPONENT_NAME


def map_elements(at) -> list:
    """The Latent space maps on the page (other components.v2 elements, such as the app's history helper, left out)."""
    return [element for element in at.get("bidi_component") if element.proto.component_name == MAP_COMPONENT]


def latent_map(at, index: int = 0) -> dict:
    """What the Latent space map (a components.v2 element) was sent in the last run, decoded."""
    return decode_map(json.loads(map_elements(at)[index].proto.json))


def map_event(at, event: str, value, index: int = 0):
    """Simulate the map's ``event`` ("click" or "legend") as the browser sends it: a trigger value, then a rerun."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    element = map_elements(at)[index]
    trigger_id = f"$$STREAMLIT_INTERNAL_KEY_{element.proto.id}__events"  # components.v2's trigger aggregator
    states = WidgetStates()
    states.widgets.extend(state for state in at._tree.get_widget_states().widgets if state.id != trigger_id)
    injected = states.widgets.add()
    injected.id = trigger_id
    injected.json_trigger_value = json.dumps([{"event": event, "value": value}])
    return at._run(states)


# ------------------------------------------------------------------ the app in AppTest

MODEL_2D, MODEL_16D = "digits-conv-2d", "digits-mlp-16d"
DIGITS = [str(digit) for digit in range(10)]
TIMEOUT = 120
APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """Two untrained seeded models for the offline 8x8 digits: a conv 2-D and an MLP 16-D."""
    import vae

    folder = tmp_path_factory.mktemp("checkpoints")
    configs = {
        MODEL_2D: ModelConfig(kind="conv", image_shape=(8, 8), latent_dim=2, conv_channels=(8, 16), conv_hidden=16),
        MODEL_16D: ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=16, hidden_sizes=(32,)),
    }
    for name, config in configs.items():
        vae.save_checkpoint(folder / f"{name}.pt", build_model(config, seed=0), dataset="digits",
                            class_names=DIGITS, metrics={"test_elbo": -50.0})
    return folder


@pytest.fixture
def app(model_folder, monkeypatch):
    """The app (an AppTest, not yet run), reading its models from the temporary folder."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(model_folder))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def app_model_path(at) -> Path:
    """The checkpoint file of the model the app shows."""
    import os

    return Path(os.environ["VAE_CHECKPOINT_DIR"]) / f"{at.session_state['model_name']}.pt"


def assert_clean(at) -> None:
    """No exception on the page."""
    assert not at.exception, [item.value for item in at.exception]


def page_text(at) -> str:
    """All markdown and captions on the page, joined."""
    return "\n".join([item.value for item in at.markdown] + [item.value for item in at.caption])


def map_click(at, x: float, y: float, index: int | None = None):
    """Simulate a click on the Latent space map at plane point (x, y), on test image ``index`` if given."""
    return map_event(at, "click", {"x": x, "y": y, "index": index})


def click(at, point: dict, chart_index: int = 0):
    """Simulate a plotly click (the Interpolate page's map) by injecting the chart's selection widget state (fires on_select)."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    chart = at.get("plotly_chart")[chart_index]
    states = WidgetStates()
    for state in at._tree.get_widget_states().widgets:
        if state.id != chart.proto.id:
            states.widgets.append(state)
    selection = {"points": [point], "point_indices": [point.get("point_index", 0)], "box": [], "lasso": []}
    injected = states.widgets.add()
    injected.id = chart.proto.id
    injected.string_value = json.dumps({"selection": selection})
    return at._run(states)
