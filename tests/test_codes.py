"""Saved test-image codes (vae.io.codes) and the dataset versions they are keyed by (vae.data.dataset_version)."""
import hashlib
import os

import numpy as np
import pytest
import torch

import vae
from vae.data import dataset_version, save_user_dataset
from vae.files import codes_path
from vae.io.checkpoints import save_checkpoint
from vae.io.codes import CODES_FORMAT, encode_test_codes, file_digest, read_test_codes, write_test_codes
from vae.io.codes import TestCodes as Codes  # aliased: pytest would try to collect a Test* class
from vae.models import build_model

VERSION = "digits:builtin"


def _save(path, model):
    return save_checkpoint(path, model, dataset="digits", class_names=[str(i) for i in range(10)])


@pytest.fixture
def checkpoint(tmp_path, tiny_model):
    return _save(tmp_path / "model.pt", tiny_model)


@pytest.fixture
def codes():
    rng = np.random.default_rng(0)
    return Codes(rng.normal(size=(30, 2)).astype(np.float32), np.arange(30) % 3, ("zero", "one", "two"), "digits")


def _assert_same(actual: Codes, expected: Codes) -> None:
    np.testing.assert_array_equal(actual.means, expected.means)
    np.testing.assert_array_equal(actual.labels, expected.labels)
    assert actual.class_names == expected.class_names and actual.dataset == expected.dataset


def _stored_arrays(checkpoint) -> dict[str, np.ndarray]:
    with np.load(codes_path(checkpoint), allow_pickle=False) as saved:
        return {key: saved[key] for key in saved.files}


# ---------------------------------------------------------------- files and round trip


def test_codes_live_beside_the_checkpoint(tmp_path):
    assert codes_path(tmp_path / "my-model.pt") == tmp_path / "my-model.codes.npz"
    assert codes_path("a/b/x.pt").name == "x.codes.npz"


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "big.bin"
    payload = np.random.default_rng(1).bytes(2**20 * 2 + 123)  # more than one 1 MiB piece
    path.write_bytes(payload)
    assert file_digest(path) == hashlib.sha256(payload).hexdigest()


def test_round_trip(checkpoint, codes):
    written = write_test_codes(checkpoint, codes, VERSION)
    assert written == codes_path(checkpoint) and written.is_file()
    loaded = read_test_codes(checkpoint, VERSION)
    _assert_same(loaded, codes)
    assert loaded.means.dtype == np.float32 and loaded.labels.dtype == np.int64
    assert isinstance(loaded.class_names, tuple)


def test_the_file_records_the_checkpoint_and_dataset_version(checkpoint, codes):
    write_test_codes(checkpoint, codes, VERSION)
    stored = _stored_arrays(checkpoint)
    assert str(stored["checkpoint_sha256"]) == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert str(stored["dataset_version"]) == VERSION and int(stored["format"]) == CODES_FORMAT


def test_no_file_gives_none(checkpoint):
    assert read_test_codes(checkpoint, VERSION) is None


def test_changed_checkpoint_bytes_give_none(checkpoint, codes, tiny_config):
    write_test_codes(checkpoint, codes, VERSION)
    _save(checkpoint, build_model(tiny_config, seed=1))  # other weights, same name
    assert codes_path(checkpoint).is_file()
    assert read_test_codes(checkpoint, VERSION) is None


def test_a_missing_checkpoint_gives_none(checkpoint, codes):
    write_test_codes(checkpoint, codes, VERSION)
    checkpoint.unlink()
    assert read_test_codes(checkpoint, VERSION) is None


def test_changed_dataset_version_gives_none(checkpoint, codes):
    write_test_codes(checkpoint, codes, "upload:x.npz:100:1")
    assert read_test_codes(checkpoint, "upload:x.npz:100:2") is None
    assert read_test_codes(checkpoint, "") is None
    assert read_test_codes(checkpoint, "upload:x.npz:100:1") is not None


def test_garbage_bytes_give_none(checkpoint):
    codes_path(checkpoint).write_bytes(np.random.default_rng(0).bytes(500))
    assert read_test_codes(checkpoint, VERSION) is None
    codes_path(checkpoint).write_bytes(b"")
    assert read_test_codes(checkpoint, VERSION) is None


@pytest.mark.slow
def test_truncated_or_flipped_files_give_none_or_the_codes(checkpoint, codes):
    write_test_codes(checkpoint, codes, VERSION)
    good = codes_path(checkpoint).read_bytes()
    rng = np.random.default_rng(0)
    damaged = [good[:length] for length in range(0, len(good), 7)]
    for _ in range(400):
        flipped = bytearray(good)
        flipped[int(rng.integers(len(good)))] ^= int(rng.integers(1, 256))
        damaged.append(bytes(flipped))
    for payload in damaged:
        codes_path(checkpoint).write_bytes(payload)
        loaded = read_test_codes(checkpoint, VERSION)  # never raises
        assert loaded is None or loaded.means.shape == codes.means.shape


@pytest.mark.parametrize("key", ["means", "labels", "class_names", "dataset", "format", "checkpoint_sha256",
                                 "dataset_version"])
def test_a_missing_key_gives_none(checkpoint, codes, key):
    write_test_codes(checkpoint, codes, VERSION)
    arrays = _stored_arrays(checkpoint)
    del arrays[key]
    np.savez(codes_path(checkpoint), **arrays)
    assert read_test_codes(checkpoint, VERSION) is None


@pytest.mark.parametrize("change", [
    {"means": np.array([[0.0, np.nan]] * 30, np.float32)},
    {"means": np.array([[0.0, np.inf]] * 30, np.float32)},
    {"means": np.zeros(30, np.float32)},  # not (N, D)
    {"labels": np.arange(29)},  # one label too few
    {"format": np.array(CODES_FORMAT + 1)},
    {"means": np.array([["a", "b"]] * 30)},  # not numbers
    {"labels": np.array([{"x": 1}] * 30, dtype=object)},  # needs pickle to read
], ids=["nan", "inf", "flat-means", "labels-count", "newer-format", "text-means", "object-labels"])
def test_damaged_contents_give_none(checkpoint, codes, change):
    write_test_codes(checkpoint, codes, VERSION)
    np.savez(codes_path(checkpoint), **{**_stored_arrays(checkpoint), **change})
    assert read_test_codes(checkpoint, VERSION) is None


def test_write_replaces_an_older_file_and_leaves_no_temp_files(checkpoint, codes):
    write_test_codes(checkpoint, codes, VERSION)
    newer = Codes(codes.means + 1.0, codes.labels[::-1].copy(), ("a", "b", "c"), "digits")
    write_test_codes(checkpoint, newer, VERSION)
    _assert_same(read_test_codes(checkpoint, VERSION), newer)
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["model.codes.npz", "model.pt"]


def test_a_failed_write_keeps_the_older_file(checkpoint, codes, monkeypatch):
    write_test_codes(checkpoint, codes, VERSION)

    def broken(handle, **arrays):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError):
        write_test_codes(checkpoint, Codes(codes.means * 0, codes.labels, codes.class_names, "digits"), VERSION)
    _assert_same(read_test_codes(checkpoint, VERSION), codes)
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["model.codes.npz", "model.pt"]


def test_encode_with_a_loaded_model_gives_its_means(checkpoint, tiny_model, tiny_images):
    model = vae.load_model(checkpoint)
    assert isinstance(model, vae.LatentModel)
    labels = np.arange(len(tiny_images), dtype=np.int32) % 10
    encoded = encode_test_codes(model, tiny_images, labels, (0, 1, 2), "digits")
    np.testing.assert_array_equal(encoded.means, model.encode(tiny_images)[0])
    with torch.no_grad():
        expected = tiny_model.encode(torch.from_numpy(tiny_images))[0].numpy()
    np.testing.assert_array_equal(encoded.means, expected)
    assert encoded.means.shape == (64, 2) and encoded.means.dtype == np.float32
    assert encoded.labels.dtype == np.int64 and np.array_equal(encoded.labels, labels)
    assert encoded.class_names == ("0", "1", "2") and encoded.dataset == "digits"
    write_test_codes(checkpoint, encoded, VERSION)
    _assert_same(read_test_codes(checkpoint, VERSION), encoded)


# ---------------------------------------------------------------- log-variances (format 2)


def test_encode_keeps_the_models_log_variances_and_they_survive_the_round_trip(checkpoint, tiny_model, tiny_images):
    encoded = encode_test_codes(vae.load_model(checkpoint), tiny_images, np.zeros(64, np.int64), ("0",), "digits")
    with torch.no_grad():
        expected = tiny_model.encode(torch.from_numpy(tiny_images))[1].numpy()
    np.testing.assert_array_equal(encoded.logvars, expected)
    write_test_codes(checkpoint, encoded, VERSION)
    loaded = read_test_codes(checkpoint, VERSION)
    assert loaded.logvars.dtype == np.float32
    np.testing.assert_array_equal(loaded.logvars, expected)
    np.testing.assert_array_equal(_stored_arrays(checkpoint)["logvars"], expected)


def test_a_file_of_the_format_before_log_variances_is_ignored(checkpoint, codes):
    """Files written before format 2 hold only the means: read as stale, so the app makes them again."""
    write_test_codes(checkpoint, codes, VERSION)
    arrays = _stored_arrays(checkpoint)
    np.savez(codes_path(checkpoint), **{**arrays, "format": np.array(1)})
    assert CODES_FORMAT == 2 and read_test_codes(checkpoint, VERSION) is None


def test_codes_without_log_variances_read_back_without_them(checkpoint, codes):
    assert codes.logvars is None
    write_test_codes(checkpoint, codes, VERSION)
    assert "logvars" not in _stored_arrays(checkpoint)
    assert read_test_codes(checkpoint, VERSION).logvars is None


@pytest.mark.parametrize("logvars", [np.zeros((30, 3), np.float32), np.zeros(30, np.float32),
                                     np.full((30, 2), np.nan, np.float32), np.full((30, 2), -np.inf, np.float32)],
                         ids=["other-dims", "flat", "nan", "minus-inf"])
def test_damaged_log_variances_give_none(checkpoint, codes, logvars):
    write_test_codes(checkpoint, codes, VERSION)
    np.savez(codes_path(checkpoint), **{**_stored_arrays(checkpoint), "logvars": logvars})
    assert read_test_codes(checkpoint, VERSION) is None


# ---------------------------------------------------------------- dataset versions


def test_offline_sets_have_a_constant_version(tmp_path):
    for name in ("digits", "mnist-5k"):
        version = dataset_version(name)
        assert version and version == dataset_version(name, root=tmp_path) == dataset_version(f" {name.upper()} ")
    assert dataset_version("digits") != dataset_version("mnist-5k")


def test_unknown_name_gives_empty_text(tmp_path):
    assert dataset_version("no-such-set") == ""
    assert dataset_version("", root=tmp_path) == ""


def test_a_missing_torchvision_file_says_missing(tmp_path):
    assert dataset_version("mnist", root=tmp_path).endswith(":missing")
    assert dataset_version("fashion-mnist", root=tmp_path).endswith(":missing")


def test_a_torchvision_version_follows_its_test_file(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    test_file = raw / "t10k-images-idx3-ubyte"
    test_file.write_bytes(b"\0" * 100)
    first = dataset_version("mnist", root=tmp_path)
    assert not first.endswith(":missing")
    test_file.write_bytes(b"\0" * 200)
    assert dataset_version("mnist", root=tmp_path) != first
    assert dataset_version("kmnist", root=tmp_path).endswith(":missing")  # another set's folder


def _write_upload_source(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    np.savez(path, images=rng.integers(0, 256, size=(6, 8, 8), dtype=np.uint8), labels=np.array([0, 1] * 3))


def test_an_upload_version_changes_when_the_stored_file_is_rewritten(tmp_path):
    source = tmp_path / "source.npz"
    _write_upload_source(source, seed=0)
    name = save_user_dataset(source, "mine", root=tmp_path)
    stored = tmp_path / "uploads" / "mine.npz"
    os.utime(stored, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    first = dataset_version(name, root=tmp_path)
    assert first and not first.endswith(":missing") and first == dataset_version(name, root=tmp_path)
    save_user_dataset(source, "mine", root=tmp_path)  # the same images again: same size
    os.utime(stored, ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    second = dataset_version(name, root=tmp_path)
    assert second != first
    stored.unlink()
    assert dataset_version(name, root=tmp_path).endswith(":missing")
    assert dataset_version("upload:other", root=tmp_path).endswith(":missing")


def test_codes_go_stale_when_their_upload_is_rewritten(tmp_path, checkpoint, codes):
    source = tmp_path / "source.npz"
    _write_upload_source(source, seed=0)
    name = save_user_dataset(source, "mine", root=tmp_path)
    write_test_codes(checkpoint, codes, dataset_version(name, root=tmp_path))
    assert read_test_codes(checkpoint, dataset_version(name, root=tmp_path)) is not None
    _write_upload_source(source, seed=1)
    save_user_dataset(source, "mine", root=tmp_path)
    os.utime(tmp_path / "uploads" / "mine.npz", ns=(10**18, 10**18))
    assert read_test_codes(checkpoint, dataset_version(name, root=tmp_path)) is None


def test_encode_refuses_images_of_another_size(checkpoint):
    model = vae.load_model(checkpoint)  # reads 8x8 images
    with pytest.raises(vae.DataError, match="the model reads"):
        encode_test_codes(model, np.zeros((3, 28, 28), np.float32), np.zeros(3, np.int64), ("0",), "mnist-5k")


def test_batched_encoding_keeps_each_images_log_variances_in_order():
    """Across several batches (main's progress encoding) each image keeps its own log-variances; an encoder
    that gives none gives codes without them."""
    class Encoder:
        image_dims = (4, 4)

        def __init__(self, with_logvars: bool):
            self.with_logvars = with_logvars

        def encode(self, images):
            flat = images.reshape(len(images), -1)
            return flat[:, :3], (flat[:, 3:6] - 5.0 if self.with_logvars else None)

    images = np.random.default_rng(3).random((9_000, 4, 4), dtype=np.float32)  # three batches of ENCODE_BATCH_IMAGES
    codes = encode_test_codes(Encoder(True), images, np.zeros(9_000), ("all",), "x")
    flat = images.reshape(9_000, -1)
    np.testing.assert_array_equal(codes.means, flat[:, :3])
    np.testing.assert_array_equal(codes.logvars, flat[:, 3:6] - 5.0)
    assert encode_test_codes(Encoder(False), images, np.zeros(9_000), ("all",), "x").logvars is None
