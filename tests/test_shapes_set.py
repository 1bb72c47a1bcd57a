"""The colour shapes as registered datasets: drawn once with progress, kept atomically, factors kept, damage redrawn."""
from __future__ import annotations

import numpy as np
import pytest

from vae.data import SHAPES_SETS, dataset_version, load_dataset, shapes_ready
from vae.data import shapes_set
from vae.data.shapes import FACTOR_NAMES, SHAPE_NAMES, render_shapes, sample_factors, split_shapes

SMALL = 300  # images in the tests' shapes-32 (the real set has 20,000)


@pytest.fixture
def small_shapes(monkeypatch, tmp_path):
    """shapes-32 with SMALL images, under a data root in tmp_path."""
    monkeypatch.setitem(SHAPES_SETS, "shapes-32", (32, SMALL))
    return tmp_path


def test_the_set_holds_the_drawn_images_with_their_factors_and_the_fixed_split(small_shapes):
    seen = []
    dataset = load_dataset("shapes-32", root=small_shapes, progress=seen.append)
    factors = sample_factors(SMALL, shapes_set.SHAPES_SEED)
    train_idx, test_idx = split_shapes(factors)
    np.testing.assert_array_equal(dataset.train_factors, factors[train_idx])
    np.testing.assert_array_equal(dataset.test_factors, factors[test_idx])
    expected = render_shapes(factors[test_idx], 32, np.uint8)  # drawn again, independently of the kept file
    np.testing.assert_array_equal(np.rint(dataset.test_images * 255).astype(np.uint8), expected)
    assert dataset.test_images.shape == (len(test_idx), 32, 32, 3) and dataset.channels == 3
    assert dataset.test_labels.tolist() == factors[test_idx, 0].tolist() and dataset.class_names == SHAPE_NAMES
    assert dataset.factor_names == FACTOR_NAMES
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
    assert dataset_version("shapes-32", small_shapes) == "shapes-32:builtin"


def test_the_drawn_set_is_kept_and_read_back_without_drawing_it_again(small_shapes, monkeypatch):
    first = load_dataset("shapes-32", root=small_shapes)
    assert shapes_ready("shapes-32", small_shapes)
    assert [path.name for path in (small_shapes / "shapes").iterdir()] == [f"shapes-32-{SMALL}-seed0.npz"]  # no temp
    drawn = []
    real = shapes_set.render_shapes
    monkeypatch.setattr(shapes_set, "render_shapes", lambda factors, *args: drawn.append(len(factors)) or
                        real(factors, *args))
    second = load_dataset("shapes-32", root=small_shapes, progress=lambda done: pytest.fail("drew again"))
    assert drawn == [shapes_set.CHECKED_IMAGES]  # only the few it checks the kept file with
    np.testing.assert_array_equal(second.train_images, first.train_images)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "truncated", "one-image-changed", "other-factors"])
def test_a_damaged_or_altered_kept_file_is_drawn_again(small_shapes, damage):
    reference = load_dataset("shapes-32", root=small_shapes)
    kept = shapes_set.shapes_cache_path("shapes-32", small_shapes)
    if damage == "garbage":
        kept.write_bytes(b"not an npz at all")
    elif damage == "truncated":
        kept.write_bytes(kept.read_bytes()[:500])
    else:
        with np.load(kept) as saved:
            arrays = {key: saved[key].copy() for key in saved.files}
        if damage == "one-image-changed":
            arrays["images"][-1] = 255 - arrays["images"][-1]  # the last image: one of those checked
        else:
            arrays["factors"][0, 1] = (arrays["factors"][0, 1] + 1) % 6
        np.savez_compressed(kept, **arrays)
    seen = []
    again = load_dataset("shapes-32", root=small_shapes, progress=seen.append)
    assert seen and seen[-1] == 1.0  # drawn again
    np.testing.assert_array_equal(again.train_images, reference.train_images)
    np.testing.assert_array_equal(again.test_images, reference.test_images)


def test_a_data_folder_that_cannot_be_written_still_gives_the_set(small_shapes, monkeypatch):
    def cannot_write(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("vae.data.array_cache.write_atomically", cannot_write)
    dataset = load_dataset("shapes-32", root=small_shapes)
    assert len(dataset.train_images) + len(dataset.test_images) == SMALL and not shapes_ready("shapes-32", small_shapes)


def test_the_grey_shapes_keep_their_factors(small_shapes):
    grey = load_dataset("shapes-32:grey", root=small_shapes)
    colour = load_dataset("shapes-32", root=small_shapes)
    assert grey.name == "shapes-32:grey" and grey.channels == 1
    np.testing.assert_array_equal(grey.test_factors, colour.test_factors)
