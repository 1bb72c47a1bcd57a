"""The shape search: fully connected layers read as encoder chain, mean and spread heads, decoder chain."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations

import torch

from vae.errors import CheckpointError

_MEAN_WORDS = {"mu", "mean", "means", "loc", "m"}
_SPREAD_WORDS = ("var", "std", "sigma", "scale", "logvar")


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """One fully connected layer, in PyTorch's layout: weight (out, in), bias (out,)."""

    name: str
    weight: torch.Tensor
    bias: torch.Tensor

    @property
    def size_in(self) -> int:
        """Inputs it reads."""
        return int(self.weight.shape[1])

    @property
    def size_out(self) -> int:
        """Outputs it gives."""
        return int(self.weight.shape[0])

    def describe(self) -> str:
        """Its name and shape, e.g. ``fc1 (784->400)``."""
        return f"{self.name} ({self.size_in}->{self.size_out})"


@dataclass(frozen=True)
class Structure:
    """One reading of the layers: encoder chain -> mean and spread heads; decoder chain from z."""

    encoder: tuple[DenseLayer, ...]
    mean: DenseLayer
    spread: DenseLayer  # ``mean`` itself when one split layer gives the means, then the spreads
    decoder: tuple[DenseLayer, ...]
    in_order: bool  # the file lists encoder, heads and decoder in that order

    @property
    def split(self) -> bool:
        """Whether one layer gives both the means and the spreads."""
        return self.mean is self.spread

    @property
    def latent_dim(self) -> int:
        """Size of z."""
        return self.mean.size_out // 2 if self.split else self.mean.size_out

    @property
    def heads(self) -> tuple[str, str]:
        """(mean layer, spread layer) names."""
        return self.mean.name, self.spread.name

    def describe(self) -> str:
        """The chain in words."""
        heads = (f"means and spreads {self.mean.describe()} (split in half)" if self.split
                 else f"means {self.mean.describe()}, spreads {self.spread.describe()}")
        return (f"encoder {', '.join(layer.describe() for layer in self.encoder)}; {heads}; "
                f"decoder {', '.join(layer.describe() for layer in self.decoder)}")


def find_structures(
    layers: list[DenseLayer], mean_layer: str | None = None, spread_layer: str | None = None,
    encoder_input: int | None = None, decoder_output: int | None = None,
) -> list[Structure]:
    """Every reading of ``layers`` as encoder chain, heads and decoder chain that the shapes allow.

    ``mean_layer``/``spread_layer`` fix the heads (one name for a split layer); ``encoder_input`` and
    ``decoder_output`` fix the chain's ends (a conv model's feature sizes), else both are the pixels.
    """
    found = []
    for mean, spread in _head_candidates(layers, mean_layer, spread_layer):
        rest = [layer for layer in layers if layer is not mean and layer is not spread]
        for encoder, decoder in _splits(rest):
            if _fits(encoder, mean, spread, decoder, encoder_input, decoder_output):
                found.append(Structure(tuple(encoder), mean, spread, tuple(decoder),
                                       _listed_in_order(layers, encoder, mean, spread, decoder)))
    return found


def _head_candidates(
    layers: list[DenseLayer], mean_layer: str | None, spread_layer: str | None,
) -> list[tuple[DenseLayer, DenseLayer]]:
    if mean_layer or spread_layer:
        return [_chosen_heads(layers, mean_layer or spread_layer, spread_layer or mean_layer)]
    pairs = [_mean_first(a, b) for a, b in combinations(layers, 2) if a.weight.shape == b.weight.shape]
    return pairs + [(layer, layer) for layer in layers if layer.size_out % 2 == 0]


def _chosen_heads(layers: list[DenseLayer], mean_name: str, spread_name: str) -> tuple[DenseLayer, DenseLayer]:
    by_name = {layer.name: layer for layer in layers}
    missing = [n for n in (mean_name, spread_name) if n not in by_name]
    if missing:
        raise CheckpointError(f"There is no layer called {missing[0]!r}; the layers are: {', '.join(by_name)}.")
    mean, spread = by_name[mean_name], by_name[spread_name]
    if mean is not spread and mean.weight.shape != spread.weight.shape:
        raise CheckpointError(f"The mean layer {mean.describe()} and spread layer {spread.describe()} differ in shape; "
                              f"heads of one VAE have the same shape.")
    if mean is spread and mean.size_out % 2:
        raise CheckpointError(f"{mean.describe()} cannot hold means and spreads: it gives an odd number of values.")
    return mean, spread


def _mean_first(a: DenseLayer, b: DenseLayer) -> tuple[DenseLayer, DenseLayer]:
    """The file's order (the mean head comes first in nearly every tutorial) unless the names say otherwise."""
    named_mean_second = looks_like_mean(b.name) and not looks_like_mean(a.name)
    named_spread_first = looks_like_spread(a.name) and not looks_like_spread(b.name)
    if named_mean_second or named_spread_first:
        return b, a
    return a, b


def name_words(name: str) -> list[str]:
    return re.findall(r"[a-z]+", name.rsplit(".", 1)[-1].lower())


def looks_like_mean(name: str) -> bool:
    return any(word in _MEAN_WORDS for word in name_words(name))


def looks_like_spread(name: str) -> bool:
    return any(hint in word for word in name_words(name) for hint in _SPREAD_WORDS)


def _splits(rest: list[DenseLayer]) -> Iterator[tuple[list[DenseLayer], list[DenseLayer]]]:
    for index in range(1, len(rest)):
        yield rest[:index], rest[index:]
        yield rest[index:], rest[:index]  # a decoder saved before its encoder


def _fits(encoder, mean, spread, decoder, encoder_input, decoder_output) -> bool:
    latent = mean.size_out // 2 if mean is spread else mean.size_out
    pixels_in, pixels_out = encoder[0].size_in, decoder[-1].size_out
    return (_is_chain(encoder) and _is_chain(decoder) and encoder[-1].size_out == mean.size_in
            and decoder[0].size_in == latent
            and pixels_in == (encoder_input if encoder_input is not None else pixels_out)
            and pixels_out == (decoder_output if decoder_output is not None else pixels_in))


def _is_chain(layers: list[DenseLayer]) -> bool:
    return all(a.size_out == b.size_in for a, b in zip(layers[:-1], layers[1:]))


def _listed_in_order(layers, encoder, mean, spread, decoder) -> bool:
    position = {id(layer): index for index, layer in enumerate(layers)}
    first_head, last_head = sorted((position[id(mean)], position[id(spread)]))
    return (all(position[id(layer)] < first_head for layer in encoder)
            and all(position[id(layer)] > last_head for layer in decoder))


def preferred(candidates: list[Structure]) -> Structure:
    """Named heads (mu / logvar...) first, then the file's order."""
    named = [s for s in candidates if looks_like_mean(s.mean.name) or looks_like_spread(s.spread.name)]
    return (named or candidates)[0]
