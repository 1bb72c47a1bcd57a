"""CIFAR-10, SVHN and CelebA read from small files each test writes in the set's raw layout (never downloaded)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.io
from PIL import Image

from vae.data import colour_sets, dataset_version, load_dataset
from vae.data.colour_sets import CELEBA_HAIR, CIFAR_TRAIN
from vae.errors import DataError

from conftest import RunsCode, RAN_CODE_MARKER

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar(root, per_batch: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """cifar-10-batches-py as the real files: Python pickles (protocol 2) of rows of 3072 bytes, red plane first.

    Returns every image (N, 32, 32, 3) uint8 and label, train batches 1..5 then the test batch.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for name in (*CIFAR_TRAIN, "test_batch"):
        pixels = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        batch_labels = rng.integers(0, 10, per_batch).tolist()
        rows = pixels.transpose(0, 3, 1, 2).reshape(per_batch, 3072)  # R plane, G plane, B plane
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "labels": batch_labels, "data": rows,
                         "filenames": [f"{name}_{i}.png" for i in range(per_batch)]}, handle, protocol=2)
        images.append(pixels)
        labels += batch_labels
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": CIFAR_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072}, handle,
                    protocol=2)
    return np.concatenate(images), np.array(labels)


def test_cifar10_reads_the_pickled_batches_with_its_own_split(tmp_path):
    pixels, labels = write_cifar(tmp_path)
    dataset = load_dataset("cifar10", root=tmp_path, download=False)
    assert dataset.class_names == tuple(CIFAR_CLASSES) and dataset.channels == 3
    assert dataset.train_images.shape == (20, 32, 32, 3) and dataset.test_images.shape == (4, 32, 32, 3)
    assert dataset.train_images.dtype == np.float32
    np.testing.assert_array_equal(np.rint(dataset.train_images * 255).astype(np.uint8), pixels[:20])
    np.testing.assert_array_equal(np.rint(dataset.test_images * 255).astype(np.uint8), pixels[20:])
    assert dataset.train_labels.tolist() == labels[:20].tolist() and dataset.test_labels.tolist() == labels[20:].tolist()
    assert dataset_version("cifar10", tmp_path).startswith("test_batch:")


def test_a_cifar_batch_that_would_run_code_is_refused_and_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_cifar(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as handle:
        pickle.dump({"data": RunsCode(), "labels": [0]}, handle, protocol=2)
    with pytest.raises(DataError, match="never does") as error:
        load_dataset("cifar10", root=tmp_path, download=False)
    assert "damaged" in str(error.value) and not (tmp_path / RAN_CODE_MARKER).exists()


def test_svhn_reads_the_mat_files_and_calls_ten_zero(tmp_path):
    folder = tmp_path / "SVHN"
    folder.mkdir()
    rng = np.random.default_rng(1)
    expected = {}
    for name, count in (("train_32x32.mat", 7), ("test_32x32.mat", 3)):
        pixels = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(1, 11, count)  # 1..10, 10 meaning the digit 0
        labels[0] = 10
        scipy.io.savemat(folder / name, {"X": pixels.transpose(1, 2, 3, 0), "y": labels[:, None]})
        expected[name] = (pixels, labels)
    dataset = load_dataset("svhn", root=tmp_path, download=False)
    assert dataset.class_names == tuple(str(digit) for digit in range(10))
    for images, labels, name in ((dataset.train_images, dataset.train_labels, "train_32x32.mat"),
                                 (dataset.test_images, dataset.test_labels, "test_32x32.mat")):
        pixels, raw_labels = expected[name]
        np.testing.assert_array_equal(np.rint(images * 255).astype(np.uint8), pixels)
        assert labels.tolist() == [0 if label == 10 else int(label) for label in raw_labels]


def write_celeba(root, faces: int = 9, size: tuple[int, int] = (178, 218)) -> list[str]:
    """celeba/ as torchvision leaves it: img_align_celeba/*.jpg and the text lists; returns the file names."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{index:06d}.jpg" for index in range(1, faces + 1)]
    rng = np.random.default_rng(2)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
            folder / "img_align_celeba" / name, quality=95)
    parts = ["0", "0", "1", "2", "0", "2", "0", "1", "2"][:faces]  # train, validation, test
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, parts)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {i % 3}\n" for i, n in enumerate(names)))
    attributes = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Smiling"]
    rows = []
    for index, name in enumerate(names):
        flags = ["-1"] * len(attributes)
        if index % 5 < 4:
            flags[1 + index % 5] = "1"  # black, blond, brown, grey hair, or none of them
        rows.append(f"{name} {' '.join(flags)}\n")
    (folder / "list_attr_celeba.txt").write_text(f"{faces}\n{' '.join(attributes)}\n" + "".join(rows))
    return names


def test_celeba_takes_the_train_and_test_partitions_centre_cropped_to_64(tmp_path):
    names = write_celeba(tmp_path)
    dataset = load_dataset("celeba-64", root=tmp_path, download=False)
    assert dataset.train_images.shape == (4, 64, 64, 3) and dataset.test_images.shape == (3, 64, 64, 3)
    assert dataset.class_names == (*(label for _, label in CELEBA_HAIR), "other hair")
    assert dataset.train_labels.tolist() == [0, 1, 4, 1] and dataset.test_labels.tolist() == [3, 0, 3]
    with Image.open(tmp_path / "celeba" / "img_align_celeba" / names[0]) as first:  # an independent crop + resize
        expected = first.convert("RGB").crop((15, 35, 163, 183)).resize((64, 64), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.rint(dataset.train_images[0] * 255).astype(np.uint8), np.asarray(expected))
    kept = tmp_path / "celeba" / "celeba-64.npz"
    assert kept.is_file()  # the faces are kept: the next load reads them back
    again = load_dataset("celeba-64", root=tmp_path, download=False)
    np.testing.assert_array_equal(again.test_images, dataset.test_images)


def test_celeba_images_smaller_than_the_crop_are_cropped_to_their_own_square(tmp_path):
    write_celeba(tmp_path, faces=9, size=(40, 50))
    dataset = load_dataset("celeba-64", root=tmp_path, download=False)
    assert dataset.train_images.shape == (4, 64, 64, 3)


@pytest.mark.parametrize("name, folder, wanted", [
    ("cifar10", "cifar-10-batches-py", "data_batch_1"), ("svhn", "SVHN", "train_32x32.mat"),
    ("celeba-64", "celeba", "img_align_celeba/"),
])
def test_a_missing_set_offline_says_where_to_put_its_files(tmp_path, monkeypatch, name, folder, wanted):
    def offline(root):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setitem(colour_sets.DOWNLOADERS, name, offline)  # what torchvision's download does offline
    for download in (True, False):
        with pytest.raises(DataError) as error:
            load_dataset(name, root=tmp_path, download=download)
        message = str(error.value)
        assert "offline" in message and wanted in message and str(tmp_path / folder) in message
        assert "mnist-5k" in message and ".gz" not in message


def test_a_colour_set_can_be_asked_for_in_grey(tmp_path):
    pixels, _ = write_cifar(tmp_path)
    grey = load_dataset("cifar10:grey", root=tmp_path, download=False)
    assert grey.name == "cifar10:grey" and grey.channels == 1 and grey.train_images.shape == (20, 32, 32)
    expected = pixels[:20].astype(np.float64) / 255 @ np.array([0.299, 0.587, 0.114])  # BT.601
    assert np.abs(grey.train_images - expected).max() < 1e-5
    assert dataset_version("cifar10:grey", tmp_path) == dataset_version("cifar10", tmp_path) + ":grey"
