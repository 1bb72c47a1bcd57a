"""The web decoder format: a model's decoder as a plain layer list and one float32 blob, for pages/decoder.js.

A web decoder file (``python -m vae export FILE.pt --format web``) is one file, in this order:

    8 bytes     the magic ``VAEWEB1\\n``
    4 bytes     the header's length L in bytes, uint32 little-endian
    L bytes     the header, UTF-8 JSON, padded with spaces so that the weights start on a 4-byte boundary
    4*N bytes   the weights, float32 little-endian, N = header["weight_count"]

The header holds ``format``, ``version``, ``latent_dim``, ``image_shape`` [H, W], ``channels`` (1 for grey,
3 for colour; a header without it is grey), ``weight_count``, ``sha256`` and ``layers``, run in order on one
code. The last layer gives the image row-major: (H, W) grey, or (H, W, 3) colour with RGB last. Every layer has ``op``, ``name`` (where it came
from in the torch model), ``input_shape`` and ``output_shape`` (one image, no batch dim, row-major,
i.e. (C, H, W) for feature maps). Per op:

    linear            in_features, out_features, weight [out, in], bias [out] or null
    conv2d            in_channels, out_channels, kernel, stride, padding (top, left), dilation,
                      weight [out, in, kh, kw], bias
    conv_transpose2d  the same plus output_padding; weight [in, out, kh, kw] (torch's layout)
    relu, sigmoid     no fields;  leaky_relu: slope
    reshape           no fields (the data stays, only output_shape changes)
    crop              starts, stops: the kept box, one [start, stop) per input dim
    permute           axes: output dim i is input dim axes[i]

A tensor is ``{"offset": index of its first float in the weights, "shape": [...]}``. ``sha256`` is
the hash of the header without it (sorted keys, compact JSON, UTF-8) followed by the weight bytes,
so a page can cache a decoder by it. Like ``LatentModel.decode``, a runtime turns non-finite inputs
into 0 / +-1e6 and clips the output to [0, 1] with NaN as 0.5.

Only ``export_decoder`` needs torch: it traces the model with vae.io.web_trace, which imports torch itself, so
reading and writing stay torch-free.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vae.analysis.projection import Projection
from vae.errors import CheckpointError
from vae.files import write_atomically
from vae.io.web_trace import UnsupportedLayer, trace_decoder  # noqa: F401 - UnsupportedLayer: what export_decoder raises

FORMAT_NAME = "vae-web-decoder"
FORMAT_VERSION = 1
MAGIC = b"VAEWEB1\n"
LENGTH_BYTES = 4  # the uint32 header length after the magic
FLOAT_BYTES = 4  # float32 weights
OPS = ("linear", "conv2d", "conv_transpose2d", "relu", "leaky_relu", "sigmoid", "reshape", "crop", "permute")
PARAMETER_FIELDS = ("weight", "bias")


@dataclass(frozen=True)
class WebDecoder:
    """A decoder as a JSON-able header (without its hash) and its weights, (N,) float32."""

    header: dict[str, Any]
    weights: np.ndarray

    @property
    def latent_dim(self) -> int:
        """Number of latent dims a code has."""
        return int(self.header["latent_dim"])

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the decoded image."""
        return tuple(self.header["image_shape"])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        """1 for a grey image, 3 for colour (RGB, the last axis)."""
        return int(self.header.get("channels", 1))

    def weight_bytes(self) -> bytes:
        """The weights as float32 little-endian bytes."""
        return np.ascontiguousarray(self.weights, dtype="<f4").tobytes()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the canonical header followed by the weight bytes: the decoder's identity."""
        return hashlib.sha256(_canonical_json(self.header) + self.weight_bytes()).hexdigest()

    def payload(self) -> dict[str, Any]:
        """What a page receives: the header with its ``sha256``, and the weights as base64 text."""
        return {"header": {**self.header, "sha256": self.sha256},
                "weights": base64.b64encode(self.weight_bytes()).decode("ascii")}

    def to_bytes(self) -> bytes:
        """The whole file: magic, header length, padded header, weights."""
        text = _canonical_json({**self.header, "sha256": self.sha256})
        text += b" " * (-(len(MAGIC) + LENGTH_BYTES + len(text)) % FLOAT_BYTES)
        return MAGIC + len(text).to_bytes(LENGTH_BYTES, "little") + text + self.weight_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "web decoder") -> "WebDecoder":
        """Parse and check a file's bytes; a damaged or foreign file raises CheckpointError."""
        damaged = CheckpointError(f"{name} is not a complete web decoder file. Export it again "
                                  f"with: python -m vae export MODEL.pt --format web")
        start = len(MAGIC) + LENGTH_BYTES
        if len(data) < start or not data.startswith(MAGIC):
            raise damaged
        end = start + int.from_bytes(data[len(MAGIC):start], "little")
        try:
            header = json.loads(data[start:end].decode("utf-8"))
            stored_hash = header.pop("sha256")
            weights = np.frombuffer(data[end:], dtype="<f4").astype(np.float32)
            decoder = cls(header, weights)
            valid = _header_fits(header, len(weights)) and decoder.sha256 == stored_hash
        except (ValueError, TypeError, KeyError, AttributeError):
            raise damaged from None
        if not valid:
            raise damaged
        return decoder


def _canonical_json(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _header_fits(header: dict, weight_count: int) -> bool:
    """Whether the header is our format and version and every tensor lies inside the weights."""
    if header.get("format") != FORMAT_NAME or header.get("version") != FORMAT_VERSION:
        return False
    if header.get("weight_count") != weight_count or header.get("channels", 1) not in (1, 3):
        return False
    for layer in header["layers"]:
        if layer["op"] not in OPS:
            return False
        for tensor in (layer.get(field) for field in PARAMETER_FIELDS):
            if tensor is not None and not 0 <= tensor["offset"] <= weight_count - math.prod(tensor["shape"]):
                return False
    return True


def write_web_decoder(path: str | Path, decoder: WebDecoder) -> Path:
    """Write ``decoder`` to one file with the one atomic writer (vae.files: temp file, fsync, rename)."""
    return write_atomically(path, decoder.to_bytes())

def read_web_decoder(path: str | Path) -> WebDecoder:
    """Read and check a web decoder file."""
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"No web decoder file at {source.name}.")
    return WebDecoder.from_bytes(source.read_bytes(), source.name)


def lift_payload(projection: Projection, base: np.ndarray | None = None) -> dict[str, Any]:
    """What a page needs to lift a plane point to a full code as ``projection.from_2d(point, base)`` does.

    Plain float64 lists (JSON carries them exactly): "mean" (D,), "axes" (2, D), "base" (D,) or None.
    """
    def floats(values: np.ndarray) -> list[float]:
        return [float(v) for v in np.asarray(values, np.float64).ravel()]

    return {"mean": floats(projection.mean), "axes": [floats(row) for row in np.asarray(projection.axes)],
            "base": None if base is None else floats(base)}


def export_decoder(model: Any) -> WebDecoder:
    """A model's decoder (a LatentModel or its torch module) as a :class:`WebDecoder`.

    The decode path is traced with torch.fx (vae.io.web_trace), so any model whose ``decode`` is a
    straight chain of known layers works, whatever its class: nn.Linear, Conv2d, ConvTranspose2d,
    ReLU, LeakyReLU, Sigmoid, reshapes, permutes and crops by slicing. Anything else raises UnsupportedLayer.
    """
    module = getattr(model, "module", model)
    latent_dim = int(module.config.latent_dim)
    height, width = (int(side) for side in module.config.image_shape)
    channels = int(module.config.channels)
    layers, blob = trace_decoder(module, latent_dim, module.config.image_dims)
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "latent_dim": latent_dim,
              "image_shape": [height, width], "channels": channels, "weight_count": int(blob.size), "layers": layers}
    return WebDecoder(header, blob)
