"""Shared fixtures: tiny models and data built in memory or tmp_path; nothing touches the network."""
from __future__ import annotations

import base64
import collections
import io
import json
import re
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

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


def make_loss_nan_after(monkeypatch, good_batches: int) -> None:
    """Make the training loss (vae.training.loop's) NaN after ``good_batches`` batches, as a blown-up run's."""
    import torch

    import vae.training.loop

    real_loss, calls = vae.training.loop.vae_loss, {"count": 0}

    def loss_that_blows_up(*args, **kwargs):
        loss = real_loss(*args, **kwargs)
        calls["count"] += 1
        if calls["count"] > good_batches:
            return loss._replace(total=loss.total * torch.tensor(float("nan")))
        return loss

    monkeypatch.setattr(vae.training.loop, "vae_loss", loss_that_blows_up)


RAN_CODE_MARKER = "ran-code-marker"  # the file RunsCode's command creates in the working folder


class RunsCode:
    """The hostile pickle: unpickling this would run a shell command (``touch ran-code-marker``)."""

    def __reduce__(self):
        import os

        return (os.system, (f"touch {RAN_CODE_MARKER}",))


def make_bad_checkpoints(folder) -> dict[str, bytes]:
    """One file's bytes for each way a checkpoint can be bad (issue: clear errors in CLI and app)."""
    import io

    import torch

    from vae.io.checkpoints import save_checkpoint
    from vae.io.schema import FORMAT_VERSION

    good = save_checkpoint(folder / "good.pt", build_model(ModelConfig(image_shape=(8, 8), hidden_sizes=(8,)), seed=0),
                           dataset="digits", class_names=[str(i) for i in range(10)])
    raw = torch.load(good, weights_only=True)

    def saved(payload) -> bytes:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    return {
        "runs-code": saved({"format": "vae-latent-explorer", "payload": RunsCode()}),
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


# ------------------------------------------------------------------ hostile checkpoints

def _good_contents(folder):
    """The contents (as torch.load gives them) of a small valid checkpoint for 8x8 digits, and torch."""
    import torch

    from vae.io.checkpoints import save_checkpoint

    path = save_checkpoint(folder / "good.pt", build_model(ModelConfig(image_shape=(8, 8), hidden_sizes=(8,)), seed=0),
                           dataset="digits", class_names=[str(i) for i in range(10)], metrics={"test_elbo": -50.0})
    return torch.load(path, weights_only=True), torch


def _saved_bytes(payload) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


# Each field a checkpoint carries, with the wrong type or out of range: (change to a good file's contents,
# words its refusal must contain). Written with torch.save, so torch.load itself reads them without complaint.
HOSTILE_METADATA = {
    "test-elbo-text": (lambda raw: {**raw, "metrics": {"test_elbo": "unknown"}}, "metrics"),
    "metrics-list-of-pairs": (lambda raw: {**raw, "metrics": [["test_elbo", -50.0]]}, "metrics"),
    "metrics-not-a-number": (lambda raw: {**raw, "metrics": {"test_elbo": None}}, "metrics"),
    "history-number": (lambda raw: {**raw, "history": 7}, "history"),
    "history-curve-of-text": (lambda raw: {**raw, "history": {"train_loss": ["a", "b"]}}, "history"),
    "history-curve-number": (lambda raw: {**raw, "history": {"test_elbo": 3.0}}, "history"),
    "history-status-number": (lambda raw: {**raw, "history": {**raw["history"], "status": 3}}, "history"),
    "history-too-long": (lambda raw: {**raw, "history": {"seconds": [1.0] * 10_001}}, "history"),
    "infinite-layer": (lambda raw: _config(raw, hidden_sizes=[float("inf")]), "architecture"),
    "fractional-layer": (lambda raw: _config(raw, hidden_sizes=[8.5]), "architecture"),
    "layer-size-text": (lambda raw: _config(raw, hidden_sizes=["8"]), "architecture"),
    "latent-size-true": (lambda raw: _config(raw, latent_dim=True), "architecture"),
    "image-size-text": (lambda raw: _config(raw, image_shape="88"), "architecture"),
    "gaussian-std-nan": (lambda raw: _config(raw, gaussian_std=float("nan")), "architecture"),
    "kind-list": (lambda raw: _config(raw, kind=["mlp"]), "architecture"),
    "model-settings-text": (lambda raw: {**raw, "model_config": "mlp"}, "model settings"),
    "class-names-numbers": (lambda raw: {**raw, "class_names": list(range(10))}, "class names"),
    "class-names-one-text": (lambda raw: {**raw, "class_names": "0123456789"}, "class names"),
    "created-number": (lambda raw: {**raw, "created": 20240101}, "creation date"),
    "created-table": (lambda raw: {**raw, "created": {"year": 2024}}, "creation date"),
    "dataset-list": (lambda raw: {**raw, "dataset": ["digits"]}, "dataset name"),
    "dataset-huge-text": (lambda raw: {**raw, "dataset": "d" * 100_000}, "dataset name"),
    "train-settings-text": (lambda raw: {**raw, "train_config": "fast"}, "training settings"),
    "train-epochs-text": (lambda raw: {**raw, "train_config": {"epochs": "ten"}}, "training settings"),
    "train-seed-2-to-70": (lambda raw: {**raw, "train_config": {"seed": 2**70}}, "training settings"),
    "format-version-true": (lambda raw: {**raw, "format_version": True}, "format version"),
    "format-version-text": (lambda raw: {**raw, "format_version": "1"}, "format version"),
    "weights-list": (lambda raw: {**raw, "state_dict": [1, 2, 3]}, "weights"),
    "weights-missing": (lambda raw: {key: value for key, value in raw.items() if key != "state_dict"}, "weights"),
    "weight-key-number": (lambda raw: {**raw, "state_dict": {1: value for value in raw["state_dict"].values()}},
                          "weights"),
    "weights-of-integers": (lambda raw: {**raw, "state_dict": {key: value.long()
                                                               for key, value in raw["state_dict"].items()}},
                            "floating-point"),
    "weight-not-a-tensor": (lambda raw: {**raw, "state_dict": {**raw["state_dict"], "fc_mu.bias": [0.0, 0.0]}},
                            "do not fit"),
}

# Small files whose settings ask for a huge model: (settings, words of the refusal). The weights are
# those of a tiny 8x8 model, so a loader that builds first allocates gigabytes before it notices.
SETTINGS_BOMBS = {
    "one-layer-of-300000": ({"hidden_sizes": [300_000]}, "architecture"),
    "20000-layers": ({"hidden_sizes": [400] * 20_000}, "architecture"),
    "100000-conv-channels": ({"kind": "conv", "conv_channels": [100_000]}, "architecture"),
    "huge-latent": ({"latent_dim": 10**9}, "architecture"),
    "many-weights-in-bounds": ({"image_shape": [256, 256], "hidden_sizes": [4096, 4096, 4096]}, "architecture"),
    "big-model-without-its-weights": ({"image_shape": [256, 256], "hidden_sizes": [400]}, "do not fit"),
}


def _config(raw: dict, **changes) -> dict:
    return {**raw, "model_config": {**raw["model_config"], **changes}}


def make_hostile_checkpoints(folder) -> dict[str, bytes]:
    """One torch.save'd file per entry of HOSTILE_METADATA and SETTINGS_BOMBS (each a few kB)."""
    raw, _ = _good_contents(folder)
    files = {kind: _saved_bytes(change(raw)) for kind, (change, _) in HOSTILE_METADATA.items()}
    files.update({kind: _saved_bytes(_config(raw, **settings)) for kind, (settings, _) in SETTINGS_BOMBS.items()})
    return files


HOSTILE_MESSAGES = {kind: words for kind, (_, words) in {**HOSTILE_METADATA, **SETTINGS_BOMBS}.items()}


# ------------------------------------------------------------------ files crafted to make torch.load allocate

class _Storage:
    """A storage as the pickle declares it: key, element count, type."""

    def __init__(self, key: str, numel: int, storage_type: str = "FloatStorage") -> None:
        self.key, self.numel, self.storage_type = key, numel, storage_type


class _Tensor:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())."""

    def __init__(self, storage: _Storage, size: tuple[int, ...]) -> None:
        self.storage, self.size = storage, size

    def __reduce__(self):
        import torch

        stride = tuple(int(np.prod(self.size[i + 1:])) for i in range(len(self.size)))
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, stride, False, collections.OrderedDict()))


class _CraftingPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            import torch

            return ("storage", getattr(torch, obj.storage_type), obj.key, "cpu", obj.numel)
        return None


def crafted_pickle(payload) -> bytes:
    """``payload`` pickled as torch.save does (protocol 2, storages as persistent ids)."""
    buffer = io.BytesIO()
    _CraftingPickler(buffer, protocol=2).dump(payload)
    return buffer.getvalue()


def crafted_torch_zip(data_pkl: bytes, records: dict[str, bytes] | None = None, *, deflate: bool = False,
                      extra_entries: int = 0, zero_record: tuple[str, int] | None = None) -> bytes:
    """A .pt archive as torch.save lays it out, with any data.pkl and records; deflated entries stay small.

    ``zero_record`` = (key, size) adds a record of ``size`` zero bytes, deflated by repeating one
    compressed mebibyte (making it with zlib would take seconds per gigabyte).
    """
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    entries = [("archive/data.pkl", data_pkl, method), ("archive/byteorder", b"little", zipfile.ZIP_STORED)]
    entries += [(f"archive/data/{key}", payload, method) for key, payload in (records or {}).items()]
    entries += [(f"archive/extra/{index}", b"", zipfile.ZIP_STORED) for index in range(extra_entries)]
    entries.append(("archive/version", b"3\n", zipfile.ZIP_STORED))
    raw_entries = [_packed_entry(name, payload, kind) for name, payload, kind in entries]
    if zero_record is not None:
        raw_entries.insert(2, _zero_entry(f"archive/data/{zero_record[0]}", zero_record[1]))
    return _zip_of(raw_entries)


def _packed_entry(name: str, payload: bytes, method: int) -> tuple[str, bytes, int, int, int]:
    """(name, stored bytes, method, CRC-32, unpacked size) of one zip entry."""
    packed = payload
    if method == zipfile.ZIP_DEFLATED:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = compressor.compress(payload) + compressor.flush()
    return name, packed, method, zlib.crc32(payload), len(payload)


def _zero_entry(name: str, size: int) -> tuple[str, bytes, int, int, int]:
    mebibyte = bytes(2**20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(mebibyte) + compressor.flush(zlib.Z_FULL_FLUSH)  # self-contained, byte-aligned
    crc = 0
    for _ in range(size // len(mebibyte)):
        crc = zlib.crc32(mebibyte, crc)
    final_block = zlib.compressobj(1, zlib.DEFLATED, -15).flush()  # an empty last block
    return name, block * (size // len(mebibyte)) + final_block, zipfile.ZIP_DEFLATED, crc, size


def _zip_of(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive of already packed entries (zipfile cannot take pre-compressed data)."""
    body, directory = io.BytesIO(), io.BytesIO()
    for name, packed, method, crc, size in entries:
        encoded, offset = name.encode(), body.tell()
        body.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(packed), size,
                               len(encoded), 0) + encoded + packed)
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(packed), size,
                                    len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), directory.tell(), body.tell(), 0)
    return body.getvalue() + directory.getvalue() + end


def make_load_bombs() -> dict[str, bytes]:
    """Small files that make torch.load (or a plain unpickler) allocate up to gigabytes; none is larger than 2 MB."""
    gib = 2**30
    storage = _Storage("0", gib // 4)
    view = _Storage("0", 2**22)  # 16 MiB, viewed 200 times: 3.4 GB if every view were copied
    return {
        "deflated-storage-1-gib": crafted_torch_zip(crafted_pickle({"w": _Tensor(storage, (gib // 4,))}),
                                                    zero_record=("0", gib)),
        "storage-declared-4-gb": crafted_torch_zip(crafted_pickle({"w": _Tensor(_Storage("0", 10**9), (3,))}),
                                                   {"0": bytes(12)}),
        "bytearray-2-gib": crafted_torch_zip(b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x80\x00\x85R."),
        "memo-index-2-gib": crafted_torch_zip(b"\x80\x02N" + b"r" + struct.pack("<I", 2**27) + b"."),
        "eight-million-dicts": crafted_torch_zip(b"\x80\x02](" + b"}" * (8 * 2**20) + b"e.", deflate=True),
        "one-view-repeated": crafted_torch_zip(crafted_pickle([_Tensor(view, (2**22,)) for _ in range(200)]),
                                               zero_record=("0", 2**24)),
        "long-table-of-contents": crafted_torch_zip(crafted_pickle({}), extra_entries=5000),
    }


@pytest.fixture(scope="session")
def hostile_files(tmp_path_factory) -> dict[str, bytes]:
    """make_hostile_checkpoints, built once per test session."""
    return make_hostile_checkpoints(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="session")
def load_bombs() -> dict[str, bytes]:
    """make_load_bombs, built once per test session."""
    return make_load_bombs()


LOAD_BOMB_MESSAGES = {  # words of each refusal; "corrupt" where the file is simply not a checkpoint
    "deflated-storage-1-gib": "refused",
    "storage-declared-4-gb": "refused",
    "bytearray-2-gib": "refused",
    "memo-index-2-gib": "neither a checkpoint of this app nor a PyTorch state_dict",
    "eight-million-dicts": "refused",
    "one-view-repeated": "refused",
    "long-table-of-contents": "refused",
}


# ------------------------------------------------------------------ other programs' VAEs (issue 14)
# Tutorials' PyTorch modules, and Keras files written with h5py in Keras's own layouts (no test needs Keras).


class FashionVAE(nn.Module):
    """The Fashion-MNIST tutorial: the same 784-400-20 network as fc1, fc2m, fc2s, fc3, fc4."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2m, self.fc2s = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc2m(h), self.fc2s(h)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))


class SigmaVAE(nn.Module):
    """input_layer, mu, sigma, upscale_sample, output_layer: sigma is a log std (std = sigma.exp())."""

    def __init__(self, hidden: int = 512, latent: int = 2) -> None:
        super().__init__()
        self.input_layer, self.mu, self.sigma = nn.Linear(784, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.upscale_sample, self.output_layer = nn.Linear(latent, hidden), nn.Linear(hidden, 784)

    def encode(self, x):
        h = F.relu(self.input_layer(x))
        return self.mu(h), 2 * self.sigma(h)  # logvar = log(std^2) = 2 * sigma

    def decode(self, z):
        return torch.sigmoid(self.output_layer(F.relu(self.upscale_sample(z))))


KERAS_ENCODER = "layers/functional/layers"  # Keras 3: the VAE's first nested model (the encoder) ...
KERAS_DECODER = "layers/functional_1/layers"  # ... and its second (the decoder), named by class with a counter


def keras_conv(filters, stride, activation="relu"):
    """A Conv2D or Conv2DTranspose layer's config: 3x3, 'same' padding."""
    return {"filters": filters, "kernel_size": [3, 3], "strides": [stride, stride], "padding": "same",
            "activation": activation, "data_format": "channels_last", "dilation_rate": [1, 1], "use_bias": True}


def keras_dense(units, activation):
    """A Dense layer's config."""
    return {"units": units, "activation": activation, "use_bias": True}


# The classic Keras conv VAE (z = 2): (class, layer name, kernel shape, Keras 3 weights path, layer config).
CLASSIC_ENCODER = [
    ("InputLayer", "encoder_input", None, f"{KERAS_ENCODER}/input_layer", {"batch_shape": [None, 28, 28, 1]}),
    ("Conv2D", "conv2d", (3, 3, 1, 32), f"{KERAS_ENCODER}/conv2d", keras_conv(32, 1)),
    ("Conv2D", "conv2d_1", (3, 3, 32, 64), f"{KERAS_ENCODER}/conv2d_1", keras_conv(64, 2)),
    ("Conv2D", "conv2d_2", (3, 3, 64, 64), f"{KERAS_ENCODER}/conv2d_2", keras_conv(64, 1)),
    ("Conv2D", "conv2d_3", (3, 3, 64, 64), f"{KERAS_ENCODER}/conv2d_3", keras_conv(64, 1)),
    ("Flatten", "flatten", None, f"{KERAS_ENCODER}/flatten", {}),
    ("Dense", "dense", (14 * 14 * 64, 32), f"{KERAS_ENCODER}/dense", keras_dense(32, "relu")),
    ("Dense", "latent_mu", (32, 2), f"{KERAS_ENCODER}/dense_1", keras_dense(2, "linear")),
    ("Dense", "latent_sigma", (32, 2), f"{KERAS_ENCODER}/dense_2", keras_dense(2, "linear")),
    ("Lambda", "z", None, f"{KERAS_ENCODER}/lambda",
     {"function": {"class_name": "__lambda__", "config": {"code": "..."}}}),
]
CLASSIC_DECODER = [
    ("InputLayer", "decoder_input", None, f"{KERAS_DECODER}/input_layer", {"batch_shape": [None, 2]}),
    ("Dense", "dense_1", (2, 14 * 14 * 64), f"{KERAS_DECODER}/dense", keras_dense(14 * 14 * 64, "relu")),
    ("Reshape", "reshape", None, f"{KERAS_DECODER}/reshape", {"target_shape": [14, 14, 64]}),
    ("Conv2DTranspose", "conv2d_transpose", (3, 3, 32, 64), f"{KERAS_DECODER}/conv2d_transpose", keras_conv(32, 2)),
    ("Conv2DTranspose", "decoder_output", (3, 3, 1, 32), f"{KERAS_DECODER}/conv2d_transpose_1",
     keras_conv(1, 1, "sigmoid")),
]
# A Keras MLP VAE: 784 -> 512 -> z_mean, z_log_var (z = 2); 2 -> 512 -> 784 sigmoid.
MLP_ENCODER = [
    ("InputLayer", "encoder_input", None, f"{KERAS_ENCODER}/input_layer", {"batch_shape": [None, 784]}),
    ("Dense", "dense", (784, 512), f"{KERAS_ENCODER}/dense", keras_dense(512, "relu")),
    ("Dense", "z_mean", (512, 2), f"{KERAS_ENCODER}/dense_1", keras_dense(2, "linear")),
    ("Dense", "z_log_var", (512, 2), f"{KERAS_ENCODER}/dense_2", keras_dense(2, "linear")),
]
MLP_DECODER = [
    ("InputLayer", "z_sampling", None, f"{KERAS_DECODER}/input_layer", {"batch_shape": [None, 2]}),
    ("Dense", "dense_1", (2, 512), f"{KERAS_DECODER}/dense", keras_dense(512, "relu")),
    ("Dense", "dense_2", (512, 784), f"{KERAS_DECODER}/dense_1", keras_dense(784, "sigmoid")),
]


def keras_weights(layers, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random float32 kernels (Keras layout) and biases, scaled so activations stay near 1."""
    rng = np.random.default_rng(seed)
    weights = {}
    for cls, name, shape, _, _ in layers:
        if shape is None:
            continue
        fan_in = int(np.prod(shape[:-2])) * shape[-1] if cls == "Conv2DTranspose" else int(np.prod(shape[:-1]))
        outputs = shape[-2] if cls == "Conv2DTranspose" else shape[-1]
        kernel = rng.standard_normal(shape) * (1.5 / np.sqrt(fan_in))
        weights[name] = kernel.astype(np.float32), (rng.standard_normal(outputs) * 0.1).astype(np.float32)
    return weights


def keras_config(encoder, decoder) -> dict:
    """Keras 3's config.json of a VAE model holding an encoder and a decoder model."""
    def entry(cls, name, settings):
        return {"module": "keras.layers", "class_name": cls, "config": {"name": name, **settings},
                "registered_name": None, "name": name, "inbound_nodes": []}

    def model(name, layers):
        return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
                "config": {"name": name, "trainable": True,
                           "layers": [entry(cls, n, settings) for cls, n, _, _, settings in layers]}}

    root = model("vae", [])
    root["config"]["layers"] = [entry("InputLayer", "vae_input", encoder[0][4]), model("encoder", encoder),
                                model("decoder", decoder)]
    return root


def write_keras3_weights(target, layers, weights, with_names: bool = False) -> None:
    """Keras 3's H5IOStore: <path>/vars/0 (kernel), /1 (bias); an optimizer group beside the layers."""
    with h5py.File(target, "w") as h5:
        for cls, name, _, path, _ in layers:
            group = h5.create_group(f"{path}/vars")
            if with_names:  # newer Keras 3 versions keep the layer's own name on its vars group
                group.attrs["name"] = name
            if name in weights:
                group["0"], group["1"] = weights[name]
        optimizer = h5.create_group("optimizer/vars")
        optimizer["0"] = np.array(12, np.int64)  # iterations
        optimizer["1"] = np.zeros((3, 3, 1, 32), np.float32)  # a moment shaped like a kernel: not a layer


def write_keras_archive(target, encoder, decoder, weights) -> None:
    """Keras 3's model.save("vae.keras"): a zip of metadata.json, config.json and model.weights.h5."""
    weights_file = target.with_suffix(".tmp.h5")
    write_keras3_weights(weights_file, encoder + decoder, weights, with_names=True)
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.8.0", "date_saved": "2025-01-01"}))
        archive.writestr("config.json", json.dumps(keras_config(encoder, decoder)))
        archive.write(weights_file, "model.weights.h5")
    weights_file.unlink()


def write_legacy_h5(target, encoder, decoder, weights) -> None:
    """Keras 2's model.save("vae.h5"): model_config attribute, model_weights/<layer>/<layer>/kernel:0."""
    config = keras_config(encoder, decoder)
    for layer in config["config"]["layers"]:  # Keras 2 names the input shape batch_input_shape
        for inner in [layer, *layer["config"].get("layers", [])]:
            if inner["class_name"] == "InputLayer":
                inner["config"]["batch_input_shape"] = inner["config"].pop("batch_shape")
    with h5py.File(target, "w") as h5:
        h5.attrs["keras_version"], h5.attrs["backend"] = b"2.13.1", b"tensorflow"
        h5.attrs["model_config"] = json.dumps(config).encode("utf-8")
        root = h5.create_group("model_weights")
        root.attrs["layer_names"] = np.array([b"vae_input", b"encoder", b"decoder"])
        root.create_group("vae_input").attrs["weight_names"] = np.array([], dtype="S1")
        for model_name, layers in (("encoder", encoder), ("decoder", decoder)):
            group = root.create_group(model_name)
            names = [f"{name}/{part}:0" for _, name, shape, _, _ in layers if shape for part in ("kernel", "bias")]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for weight_name in names:
                layer, part = weight_name.split("/")
                group[weight_name] = weights[layer][0 if part.startswith("kernel") else 1]


# ------------------------------------------------------------------ the Latent space map in AppTest


def decode_map(data: dict) -> dict:
    """The map component's data with its base64 arrays decoded: "points" (N, 2) float32, "label_array" (N,) and
    "codes" (N, D) or None. The point set travels once per session (pages/common/live.py): in data that
    names it by token alone, "points" and "label_array" are None."""
    spec = data["points"]
    if "x" not in spec:
        return {**data, "token": spec["token"], "count": spec["count"], "points": None, "label_array": None,
                "codes": None}
    x = np.frombuffer(base64.b64decode(spec["x"]), dtype="<f4")
    y = np.frombuffer(base64.b64decode(spec["y"]), dtype="<f4")
    labels = np.frombuffer(base64.b64decode(spec["labels"]), dtype="<u2")
    codes = np.frombuffer(base64.b64decode(spec["codes"]), dtype="<f4").reshape(len(x), -1) if "codes" in spec else None
    return {**data, "token": spec["token"], "count": spec["count"], "points": np.stack([x, y], axis=1),
            "label_array": labels.astype(np.int64), "codes": codes}


MAP_COMPONENT = "vae_explorer.latent_map"  # pages/common/latent_map.py COMPONENT_NAME


def map_elements(at) -> list:
    """The maps on the page (Interpolate's scrubber, the same component in another mode, and other
    components.v2 elements, such as the app's history helper, left out)."""
    return [element for element in at.get("bidi_component") if element.proto.component_name == MAP_COMPONENT
            and json.loads(element.proto.json).get("mode") != "scrubber"]


def map_json(at, index: int = 0) -> dict:
    """What the map was sent in the last run, as JSON (point set and decoder possibly by name only)."""
    return json.loads(map_elements(at)[index].proto.json)


def latent_map(at, index: int = 0) -> dict:
    """What the map shows after the last run, decoded. When that run named its point set by token alone
    (the session sent it before), the map asks for it again as a browser without it does ("need"), which
    reruns the app once."""
    data = map_json(at, index)
    if "x" not in data["points"]:
        map_event(at, "need", {"points": data["points"]["token"]}, index)
        data = map_json(at, index)
    return decode_map(data)


def map_event(at, event: str, value, index: int = 0):
    """Simulate the map's ``event`` ("click", "legend", "slider", "need") as the browser sends it: a trigger value,
    then a rerun."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    element = map_elements(at)[index]
    trigger_id = f"$$STREAMLIT_INTERNAL_KEY_{element.proto.id}__events"  # components.v2's trigger aggregator
    states = WidgetStates()
    states.widgets.extend(state for state in at._tree.get_widget_states().widgets if state.id != trigger_id)
    injected = states.widgets.add()
    injected.id = trigger_id
    injected.json_trigger_value = json.dumps([{"event": event, "value": value}])
    return at._run(states)


def map_slider(at, dim: int, value: float, index: int = 0):
    """Simulate letting go of latent slider ``dim`` at ``value``: the map sends the whole point ("slider")."""
    z = list(map_json(at, index)["live"]["point"])
    z[dim] = value
    return map_event(at, "slider", {"z": z}, index)


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
        model = spread_codes(build_model(config, seed=0), vae.load_dataset("digits").test_images)
        vae.save_checkpoint(folder / f"{name}.pt", model, dataset="digits",
                            class_names=DIGITS, metrics={"test_elbo": -50.0})
    return folder


def spread_codes(model, images: np.ndarray, spread: float = 1.5):
    """Centre and stretch an untrained encoder's means so the test codes spread like a trained model's.

    The map and the sliders are framed on the codes (vae.plots.axis_range); an untrained model's codes
    are a tiny blob, which would leave the points these tests click (within about +-2) off the plane.
    """
    import torch

    with torch.no_grad():
        means = model.encode(torch.as_tensor(images, dtype=torch.float32))[0]
        scale = spread / means.std(dim=0)  # (D,)
        model.fc_mu.weight.mul_(scale[:, None])
        model.fc_mu.bias.sub_(means.mean(dim=0)).mul_(scale)
    return model


def app_reading(folder: Path, monkeypatch):
    """The app (an AppTest, not yet run), reading its models from ``folder``."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))  # model_access.checkpoint_dir() reads it on every call
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


@pytest.fixture
def app(model_folder, monkeypatch):
    """The app (an AppTest, not yet run), reading its models from ``model_folder``.

    A test module that needs other models overrides ``model_folder``; this fixture then reads those.
    """
    return app_reading(model_folder, monkeypatch)


@pytest.fixture
def navigation_mode(monkeypatch) -> None:
    """Run app.py on every rerun, as the live server does.

    AppTest keeps Streamlit's pages-folder mode (it sees pages/ beside app.py) unless told otherwise;
    the live server leaves it as soon as app.py's st.navigation runs.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def open_page(at, page: str, model: str | None = None):
    """Switch the app to ``pages/<page>.py`` (showing the model called ``model``, if given) and run it; no exception."""
    if model:
        at.session_state["model_name"] = model
    at.switch_page(f"pages/{page}.py").run()
    assert_clean(at)
    return at


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
