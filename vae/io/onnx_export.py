"""The decoder as an ONNX file for other tools, through torch.onnx's exporter (needs onnx and onnxscript)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vae.errors import VAEError
from vae.files import write_atomically
from vae.models.base import DecodeOnly

TRACE_BATCH = 2  # the export is traced on two codes; the file takes any number


def export_onnx(model: Any, path: str | Path) -> Path:
    """Write a model's decoder (a LatentModel or its module) as ONNX: input "codes" (B, D), output "images" (B, H, W).

    The file is checked with onnx.checker before it is written (temp file, fsync, rename).
    """
    try:
        import onnx
        import onnxscript  # noqa: F401 - torch.onnx's exporter needs it; fail early with a clear message
    except ImportError:
        raise VAEError("Writing ONNX needs two more packages: pip install onnx onnxscript") from None
    module = getattr(model, "module", model)
    wrapper = DecodeOnly(module).eval()
    device = next((parameter.device for parameter in module.parameters()), "cpu")  # trace where the weights are
    codes = torch.zeros(TRACE_BATCH, module.config.latent_dim, device=device)
    try:
        program = torch.onnx.export(wrapper, (codes,), dynamo=True, verbose=False,
                                    input_names=["codes"], output_names=["images"],
                                    dynamic_shapes={"codes": {0: torch.export.Dim("batch")}})
    except Exception as error:  # noqa: BLE001 - the exporter raises many kinds on code it cannot follow
        raise VAEError(f"This model's decoder could not be written as ONNX ({type(error).__name__}).") from None
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {"latent_dim": str(module.config.latent_dim),
                                        "image_shape": "x".join(str(s) for s in module.config.image_dims)})
    onnx.checker.check_model(proto)
    return write_atomically(Path(path), proto.SerializeToString())
