"""The stratified train/test split every dataset gets: each class keeps its share in the test part."""
from __future__ import annotations

import numpy as np

from vae.data.dataset import Dataset
from vae.errors import DataError

DEFAULT_TEST_FRACTION = 0.2  # share of each class held out for testing
DEFAULT_SPLIT_SEED = 0  # fixed so the built-in splits never change between runs


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so every class keeps its share in the test part.

    Each class with ``count`` items puts ``round(test_fraction * count)`` of them in the test
    part, at least 1 and at most ``count - 1`` when ``count >= 2``; a class of one stays in
    training. Both parts come back shuffled.

    Args:
        labels: (N,) integer class labels.
        test_fraction: Share of each class held out, strictly between 0 and 1.
        seed: Seed for the shuffle, so the split is reproducible.

    Returns:
        (train_idx, test_idx): int64 index arrays, disjoint, together covering range(N).
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}.")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test_count = count_test_items(len(members), test_fraction)
        test_parts.append(members[:test_count])
        train_parts.append(members[test_count:])
    train_idx = rng.permutation(np.concatenate(train_parts or [np.empty(0, np.int64)]))
    test_idx = rng.permutation(np.concatenate(test_parts or [np.empty(0, np.int64)]))
    return train_idx.astype(np.int64), test_idx.astype(np.int64)


def count_test_items(count: int, test_fraction: float) -> int:
    """How many of a class's ``count`` items go to the test part."""
    if count < 2:
        return 0
    return min(max(round(test_fraction * count), 1), count - 1)


def split_dataset(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
) -> Dataset:
    """Build a Dataset from (N, H, W) float32 images and (N,) labels with a stratified split."""
    labels = np.asarray(labels, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    return Dataset(
        name=name,
        train_images=np.ascontiguousarray(images[train_idx], dtype=np.float32),
        train_labels=labels[train_idx],
        test_images=np.ascontiguousarray(images[test_idx], dtype=np.float32),
        test_labels=labels[test_idx],
        class_names=tuple(class_names),
    )
