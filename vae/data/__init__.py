"""Images to learn from, as numpy arrays (no torch): built-in sets by name, the user's uploads, and the split.

The public data API; the modules below hold one concern each:

- ``registry``: the datasets by name, loading by name, dataset versions;
- ``dataset``: the :class:`Dataset` (train and test parts); ``split``: the stratified split;
- ``builtin``: the offline sets; ``torchvision_sets``: MNIST, Fashion-MNIST, KMNIST; ``colour_sets``: CIFAR-10,
  SVHN, CelebA;
- ``shapes``: the colour shapes generator; ``shapes_set``: its sets shapes-32 and shapes-64, drawn once and kept
  (``array_cache``);
- ``uploads`` (with ``npz``, ``zips`` and their ``limits``): the user's own files; ``stored``: kept uploads;
- ``folders``: the data root.
"""
from vae.data.builtin import OFFLINE_DATASETS, load_digits, load_mnist_5k
from vae.data.dataset import GREY_SUFFIX, Dataset, as_grayscale, describe_size, require_image_size
from vae.data.folders import default_data_root, uploads_folder
from vae.data.limits import (
    MAX_CLASS_NAME_CHARS,
    MAX_CLASSES,
    MAX_IMAGE_SIDE,
    MAX_UNCOMPRESSED_BYTES,
    MAX_UPLOAD_PIXELS,
    MIN_IMAGE_SIDE,
)
from vae.data.registry import DATASETS, base_name, dataset_version, list_datasets, load_dataset
from vae.data.shapes_set import SHAPES_SETS, shapes_ready
from vae.data.split import split_dataset, stratified_split
from vae.data.stored import UPLOAD_PREFIX, list_user_datasets, load_stored_upload, save_user_dataset
from vae.data.torchvision_sets import load_torchvision
from vae.data.uploads import load_user_dataset, read_user_file

__all__ = [
    "DATASETS", "GREY_SUFFIX", "SHAPES_SETS", "as_grayscale", "base_name", "describe_size", "shapes_ready",
    "MAX_CLASSES", "MAX_CLASS_NAME_CHARS", "MAX_IMAGE_SIDE", "MAX_UNCOMPRESSED_BYTES", "MAX_UPLOAD_PIXELS",
    "MIN_IMAGE_SIDE", "OFFLINE_DATASETS", "UPLOAD_PREFIX", "Dataset", "dataset_version", "default_data_root",
    "list_datasets", "list_user_datasets", "load_dataset", "load_digits", "load_mnist_5k", "load_stored_upload",
    "load_torchvision", "load_user_dataset", "read_user_file", "require_image_size", "save_user_dataset",
    "split_dataset", "stratified_split", "uploads_folder",
]
