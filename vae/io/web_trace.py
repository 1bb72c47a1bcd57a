"""Tracing a torch decoder into the web format's layer list (vae.io.web); torch is imported only inside.

torch.fx follows the model's ``decode`` on a small batch of codes; each step becomes zero or more
layers of the web format (see vae/io/web.py for the ops and their fields), and its parameters are
appended to one float32 blob.
"""
from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from vae.errors import VAEError

TRACE_BATCH = 3  # the decoder is traced on this many codes: a batch size apart from 1 shows which dim is the batch


class UnsupportedLayer(VAEError):
    """The decoder uses a layer the in-browser decoder cannot run; the app then decodes on the server."""


def trace_decoder(module: Any, latent_dim: int, image_dims: tuple[int, ...]) -> tuple[list[dict], np.ndarray]:
    """The layers of ``module``'s decode path, run in order on one code, and their weights, (N,) float32.

    Raises UnsupportedLayer when the path is not a straight chain of layers the web format knows,
    or does not end in an ``image_dims`` image: (H, W) grey, or (H, W, C) colour with the channels last.
    """
    image = [int(side) for side in image_dims]
    traced, steps = _trace(module, latent_dim)
    weights: list[np.ndarray] = []
    layers: list[dict] = []
    for node in steps:
        layers += _translate(node, traced, weights)
    final = layers[-1]["output_shape"] if layers else [latent_dim]
    if math.prod(final) != math.prod(image):
        raise UnsupportedLayer(f"The decoder gives {final} values, not a {'x'.join(map(str, image))} image.")
    if final != image:
        layers.append({"op": "reshape", "name": "image", "input_shape": final, "output_shape": image})
    blob = np.concatenate(weights) if weights else np.zeros(0, np.float32)
    return layers, blob


def _trace(module: Any, latent_dim: int) -> tuple[Any, list]:
    """The traced ``decode`` (shapes recorded on each node) and its steps, first to last."""
    import torch
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp

    from vae.models.base import DecodeOnly

    was_training = module.training
    device = next((parameter.device for parameter in module.parameters()), "cpu")  # trace where the weights are
    module.eval()  # dropout off, as when the app decodes
    try:
        wrapper = DecodeOnly(module)
        traced = torch.fx.GraphModule(wrapper, _tracer().trace(wrapper))
        with torch.no_grad():
            ShapeProp(traced).propagate(torch.zeros(TRACE_BATCH, latent_dim, device=device))
    except Exception as error:  # noqa: BLE001 - tracing fails in many ways on code it cannot follow
        raise UnsupportedLayer(f"The decoder's code cannot be followed step by step ({type(error).__name__}).") from None
    finally:
        module.train(was_training)
    return traced, _chain(traced)


def _same_padding_layers() -> tuple[type, ...]:
    """Our layers that pad as TensorFlow's 'same': traced as one step each, run as a conv and a crop."""
    from vae.models.keras_conv import SameConvTranspose2d

    return (SameConvTranspose2d,)


def _tracer() -> Any:
    """An fx tracer that keeps our 'same'-padded layers whole (their own code slices by traced shapes)."""
    import torch.fx

    class LeafTracer(torch.fx.Tracer):
        def is_leaf_module(self, module: Any, qualified_name: str) -> bool:
            return isinstance(module, _same_padding_layers()) or super().is_leaf_module(module, qualified_name)

    return LeafTracer()


def _same_transposed_layers(layer: Any, base: dict, weights: list[np.ndarray]) -> list[dict]:
    """TensorFlow's 'same' transposed conv: the full transposed conv (no padding), then its crop."""
    height, width = base["input_shape"][1:]
    full = [layer.out_channels,
            (height - 1) * layer.stride[0] + layer.kernel_size[0] + layer.output_padding[0],
            (width - 1) * layer.stride[1] + layer.kernel_size[1] + layer.output_padding[1]]
    conv = _conv_layer(layer, {**base, "output_shape": full}, weights)
    conv["padding"] = [0, 0]
    start, out = layer.crop_start, base["output_shape"]
    crop = {**base, "name": f"{base['name']}.crop", "input_shape": full, "op": "crop",
            "starts": [0, start, start], "stops": [out[0], start + out[1], start + out[2]]}
    return [conv, crop]


def _is_tensor(node: Any) -> bool:
    return "tensor_meta" in getattr(node, "meta", {})


def _chain(traced: Any) -> list:
    """The tensor steps from the code to the image; a branch (two uses of one result) is unsupported.

    Steps that only read a shape (``x.size(0)``) are left out: every step's shape is already known.
    """
    nodes = list(traced.graph.nodes)
    current, steps = nodes[0], []
    for node in nodes[1:-1]:
        if not _is_tensor(node):
            continue
        inputs = [n for n in node.all_input_nodes if _is_tensor(n)]
        users = [n for n in current.users if _is_tensor(n) or n.op == "output"]
        if node.op == "get_attr" or inputs != [current] or len(users) != 1:
            raise UnsupportedLayer(f"The decoder's step {node.name!r} is not part of a straight chain of layers.")
        steps.append(node)
        current = node
    if nodes[-1].args[0] is not current:
        raise UnsupportedLayer("The decoder's output is not the end of a straight chain of layers.")
    return steps


def _shape(node: Any) -> list[int]:
    """A step's shape for one code: the batch dim dropped, after checking it stayed first."""
    full = [int(size) for size in node.meta["tensor_meta"].shape]
    if not full or full[0] != TRACE_BATCH:
        raise UnsupportedLayer(f"The decoder's step {node.name!r} mixes the codes of a batch.")
    return full[1:]


def _translate(node: Any, traced: Any, weights: list[np.ndarray]) -> list[dict]:
    """One traced step as zero or more layers; its parameters are appended to ``weights``."""
    (source,) = [n for n in node.all_input_nodes if _is_tensor(n)]
    name = str(node.target).removeprefix("inner.") if node.op == "call_module" else node.name
    base = {"name": name, "input_shape": _shape(source), "output_shape": _shape(node)}
    if node.op == "call_module" and isinstance(traced.get_submodule(node.target), _same_padding_layers()):
        return _same_transposed_layers(traced.get_submodule(node.target), base, weights)
    if node.op == "call_module":
        layer = _module_layer(traced.get_submodule(node.target), base, weights)
    else:
        layer = _function_layer(node, base)
    if layer is None:
        kind = type(traced.get_submodule(node.target)) if node.op == "call_module" else node.target
        raise UnsupportedLayer(f"The decoder uses a step the in-browser decoder cannot run yet: "
                               f"{getattr(kind, '__name__', kind)} ({name}).")
    if layer["op"] == "identity" or (layer["op"] == "reshape" and base["input_shape"] == base["output_shape"]):
        return []
    return [layer]


def _tensor(value: Any, weights: list[np.ndarray]) -> dict | None:
    """Append a parameter (torch layout, logical order even when stored channels-last) to the weights."""
    if value is None:
        return None
    array = np.ascontiguousarray(value.detach().cpu().float().numpy(), dtype=np.float32)
    offset = sum(part.size for part in weights)
    weights.append(array.ravel())
    return {"offset": int(offset), "shape": list(array.shape)}


def _module_layer(layer: Any, base: dict, weights: list[np.ndarray]) -> dict | None:
    """A torch.nn layer of a known type (exactly that type: a subclass may compute something else)."""
    from torch import nn

    kind = type(layer)
    if kind is nn.Identity or isinstance(layer, nn.modules.dropout._DropoutNd):  # dropout is off when decoding
        return {**base, "op": "identity"}
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Flatten: "reshape", nn.Unflatten: "reshape"}
    if kind in simple:
        return {**base, "op": simple[kind]}
    if kind is nn.LeakyReLU:
        return {**base, "op": "leaky_relu", "slope": float(layer.negative_slope)}
    if kind is nn.Linear and base["input_shape"] == [layer.in_features]:
        return {**base, "op": "linear", "in_features": layer.in_features, "out_features": layer.out_features,
                "weight": _tensor(layer.weight, weights), "bias": _tensor(layer.bias, weights)}
    if kind in (nn.Conv2d, nn.ConvTranspose2d) and layer.groups == 1 and layer.padding_mode == "zeros":
        return _conv_layer(layer, base, weights)
    return None


def _conv_layer(layer: Any, base: dict, weights: list[np.ndarray]) -> dict:
    from torch import nn

    transposed = isinstance(layer, nn.ConvTranspose2d)
    padding = layer.padding
    if isinstance(padding, str):  # Conv2d's "valid" or "same"; "same" puts the odd pixel at the bottom/right
        padding = [0, 0] if padding == "valid" else [d * (k - 1) // 2 for d, k in zip(layer.dilation, layer.kernel_size)]
    layer_dict = {**base, "op": "conv_transpose2d" if transposed else "conv2d",
                  "in_channels": layer.in_channels, "out_channels": layer.out_channels,
                  "kernel": list(layer.kernel_size), "stride": list(layer.stride), "padding": list(padding),
                  "dilation": list(layer.dilation), "weight": _tensor(layer.weight, weights),
                  "bias": _tensor(layer.bias, weights)}
    if transposed:
        layer_dict["output_padding"] = list(layer.output_padding)
    return layer_dict


def _function_layer(node: Any, base: dict) -> dict | None:
    """A torch function or tensor method: an activation, a reshape, a permute or a crop by slicing."""
    import torch
    import torch.nn.functional as F

    key = node.target
    simple = {torch.relu: "relu", F.relu: "relu", "relu": "relu", "relu_": "relu", torch.sigmoid: "sigmoid",
              "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "contiguous": "identity",
              torch.flatten: "reshape", torch.reshape: "reshape", torch.squeeze: "reshape", torch.unsqueeze: "reshape",
              "view": "reshape", "reshape": "reshape", "flatten": "reshape", "unflatten": "reshape",
              "squeeze": "reshape", "unsqueeze": "reshape"}
    if key in simple:
        return {**base, "op": simple[key]}
    if key is F.leaky_relu:
        slope = node.args[1] if len(node.args) > 1 else node.kwargs.get("negative_slope", 0.01)
        return {**base, "op": "leaky_relu", "slope": float(slope)}
    if key in (torch.permute, "permute", torch.transpose, "transpose"):
        return _permute_layer(node, base)
    if key is operator.getitem:
        return _crop_layer(node.args[1], base)
    return None


def _permute_layer(node: Any, base: dict) -> dict | None:
    """permute / transpose of the dims after the batch dim."""
    import torch

    rank = len(base["input_shape"]) + 1
    arguments = [*node.args[1:], *node.kwargs.values()]
    if node.target in ("transpose", torch.transpose):
        first, second = (int(d) % rank for d in arguments)
        order = list(range(rank))
        order[first], order[second] = order[second], order[first]
    else:
        flat = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], (list, tuple)) else arguments
        order = [int(d) % rank for d in flat]
    if sorted(order) != list(range(rank)) or order[0] != 0:
        return None
    axes = [d - 1 for d in order[1:]]
    return {**base, "op": "permute" if axes != sorted(axes) else "identity", "axes": axes}


def _crop_layer(index: Any, base: dict) -> dict | None:
    """``x[:, a:b, c, ...]``: a box of the dims after the batch dim (ints keep one row and drop the dim)."""
    items = list(index) if isinstance(index, tuple) else [index]
    shape = base["input_shape"]
    if sum(item is Ellipsis for item in items) == 1:
        at = next(i for i, item in enumerate(items) if item is Ellipsis)
        items[at:at + 1] = [slice(None)] * (len(shape) + 2 - len(items))
    if not items or items[0] != slice(None) or len(items) > len(shape) + 1:
        return None
    starts, stops = [], []
    for item, size in zip(items[1:] + [slice(None)] * (len(shape) + 1 - len(items)), shape):
        if isinstance(item, int) and not isinstance(item, bool) and -size <= item < size:
            start, stop = item % size, item % size + 1
        elif isinstance(item, slice) and all(v is None or isinstance(v, int) for v in (item.start, item.stop, item.step)):
            start, stop, step = item.indices(size)
            if step != 1:
                return None
            stop = max(start, stop)
        else:
            return None
        starts.append(start)
        stops.append(stop)
    if starts == [0] * len(shape) and stops == shape:
        return {**base, "op": "reshape"}
    return {**base, "op": "crop", "starts": starts, "stops": stops}
