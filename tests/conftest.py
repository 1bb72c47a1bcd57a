"""Shared fixtures: tiny models and data built in memory or tmp_path; nothing touches the network."""
from __future__ import annotations

import base64
import json

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
