"""The offline colour shapes set (vae.data.shapes): determinism, each factor's effect on the image, the split."""
import hashlib
import itertools
import math

import numpy as np
import pytest

from vae.data import shapes
from vae.errors import DataError
from vae.data.shapes import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    PALETTE,
    SHAPE_NAMES,
    make_shapes,
    render_shapes,
    sample_factors,
    split_shapes,
)

SHAPE, COLOUR, SIZE, ROTATION, X, Y = range(6)
LARGEST_SIZE = FACTOR_SIZES[SIZE] - 1
LAST_STEP = FACTOR_SIZES[X] - 1


def rows_varying(factor: int, base: tuple[int, ...]) -> np.ndarray:
    """Factor rows equal to ``base`` except ``factor``, which runs over all its values."""
    rows = np.tile(np.array(base, dtype=np.int64), (FACTOR_SIZES[factor], 1))
    rows[:, factor] = np.arange(FACTOR_SIZES[factor])
    return rows


def coverage_of(images: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(N, H, W) covered share per pixel: on black, each pixel is coverage x colour, so divide by it."""
    brightest = np.asarray(colours, np.float64).max(axis=-1) / 255.0
    return images.max(axis=-1) / brightest[:, None, None]


def centroid(coverage: np.ndarray) -> tuple[float, float]:
    """(x, y) of a (H, W) coverage map's centre of mass in pixel units, pixel i spanning [i, i + 1)."""
    rows, columns = np.indices(coverage.shape)
    total = coverage.sum()
    return float(((columns + 0.5) * coverage).sum() / total), float(((rows + 0.5) * coverage).sum() / total)


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    first = make_shapes(40, image_size=32, seed=1)
    again = make_shapes(40, image_size=32, seed=1)
    other = make_shapes(40, image_size=32, seed=2)
    assert first.images.tobytes() == again.images.tobytes()
    assert np.array_equal(first.factors, again.factors)
    assert not np.array_equal(first.factors, other.factors)
    assert first.images.tobytes() != other.images.tobytes()


@pytest.mark.parametrize("image_size", [32, 64])
def test_images_are_colour_floats_in_unit_range_with_valid_factors(image_size):
    images, factors, labels, class_names = make_shapes(30, image_size=image_size, seed=0)
    assert images.shape == (30, image_size, image_size, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert factors.shape == (30, len(FACTOR_NAMES)) and factors.dtype == np.int64
    assert (factors >= 0).all() and (factors < np.array(FACTOR_SIZES)).all()
    assert len({tuple(row) for row in factors}) == 30  # distinct combinations
    assert np.array_equal(labels, factors[:, SHAPE]) and class_names == SHAPE_NAMES
    assert (images.reshape(30, -1).max(axis=1) > 0.2).all()  # every image shows a shape


def test_uint8_images_are_the_rounded_float_images():
    factors = sample_factors(20, seed=4)
    as_float = render_shapes(factors, 32)
    as_bytes = render_shapes(factors, 32, dtype=np.uint8)
    assert as_bytes.dtype == np.uint8
    assert np.array_equal(as_bytes, np.rint(as_float * 255).astype(np.uint8))


def test_every_subset_row_is_rendered_as_its_own_factors_say():
    subset = make_shapes(12, image_size=32, seed=5)
    assert np.array_equal(subset.images, render_shapes(subset.factors, 32))


def test_all_factors_are_the_full_product_in_order():
    assert np.array_equal(sample_factors(None), np.array(list(itertools.product(*map(range, FACTOR_SIZES)))))
    subset = sample_factors(500, seed=3)
    flat = np.ravel_multi_index(tuple(subset.T), FACTOR_SIZES)
    assert np.all(np.diff(flat) > 0)  # a sorted sub-sequence of the full product


def test_colour_of_fully_covered_pixels_is_the_palette_colour():
    assert min(np.abs(a.astype(int) - b.astype(int)).sum() for a, b in itertools.combinations(PALETTE, 2)) > 60
    for shape, colour in itertools.product(range(len(SHAPE_NAMES)), range(len(PALETTE))):
        image = render_shapes(np.array([[shape, colour, LARGEST_SIZE, 1, 3, 4]]), 64)[0]
        expected = PALETTE[colour] / 255.0
        full = image.max(axis=-1) >= expected.max() - 1e-6
        assert full.sum() > 50
        assert np.allclose(image[full].mean(axis=0), expected, atol=1 / 255)
        lit = image.max(axis=-1) > 0.05  # edge pixels too: the same hue, only dimmer
        directions = image[lit] / np.linalg.norm(image[lit], axis=1, keepdims=True)
        assert np.allclose(directions @ (expected / np.linalg.norm(expected)), 1.0, atol=1e-4)
        assert (image[~lit] <= 0.05).all() and image.min() == 0.0  # black background


@pytest.mark.parametrize("axis", [X, Y])
@pytest.mark.parametrize("shape", range(len(SHAPE_NAMES)))
def test_position_moves_the_centroid_monotonically_to_its_step(axis, shape):
    image_size = 64
    rows = rows_varying(axis, (shape, 2, 2, 3, 5, 2))
    coverage = coverage_of(render_shapes(rows, image_size), PALETTE[rows[:, COLOUR]])
    centres = np.array([centroid(one) for one in coverage])  # (8, 2): x, y
    moving, fixed = centres[:, axis - X], centres[:, 1 - (axis - X)]
    assert np.all(np.diff(moving) > 0)
    expected = (0.27 + 0.46 * np.arange(8) / 7) * image_size  # the documented 27 %..73 % of the side
    assert np.allclose(moving, expected, atol=0.25)  # the area centroid sits on the grid step
    assert np.ptp(fixed) < 0.25


@pytest.mark.parametrize("image_size", [32, 64])
def test_no_shape_touches_the_border_at_any_corner_angle_or_size(image_size):
    corners = [(0, 0), (0, LAST_STEP), (LAST_STEP, 0), (LAST_STEP, LAST_STEP)]
    rows = np.array([(shape, 0, LARGEST_SIZE, rotation, x, y) for shape in range(len(SHAPE_NAMES))
                     for rotation in range(FACTOR_SIZES[ROTATION]) for x, y in corners])
    images = render_shapes(rows, image_size)
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert border.max() == 0.0
    assert images.max(axis=(1, 2, 3)).min() > 0.5


@pytest.mark.parametrize("shape", range(len(SHAPE_NAMES)))
def test_area_grows_with_the_size_factor_as_the_radius_squared(shape):
    rows = rows_varying(SIZE, (shape, 3, 0, 2, 4, 4))
    areas = coverage_of(render_shapes(rows, 64), PALETTE[rows[:, COLOUR]]).sum(axis=(1, 2))
    assert np.all(np.diff(areas) > 0)
    radii = np.array(shapes.SIZE_RADII)
    assert np.allclose(areas / areas[-1], (radii / radii[-1]) ** 2, rtol=0.03)


def test_shape_areas_match_their_geometry_and_silhouettes_differ():
    image_size = 64
    radius = shapes.SIZE_RADII[LARGEST_SIZE] * image_size
    rows = rows_varying(SHAPE, (0, 1, LARGEST_SIZE, 0, 3, 3))
    coverage = coverage_of(render_shapes(rows, image_size), PALETTE[rows[:, COLOUR]])
    star_inner = shapes.STAR_INNER_RADIUS * radius
    expected = {  # outer radius r: square side r*sqrt(2); equilateral triangle; 10-sided star of triangles
        "square": 2 * radius**2, "ellipse": math.pi * radius * shapes.ELLIPSE_MINOR_AXIS * radius,
        "triangle": 3 * math.sqrt(3) / 4 * radius**2, "star": 5 * radius * star_inner * math.sin(math.pi / 5),
    }
    for name, area in expected.items():
        assert coverage[SHAPE_NAMES.index(name)].sum() == pytest.approx(area, rel=0.01)
    for first, second in itertools.combinations(range(len(SHAPE_NAMES)), 2):
        overlap = np.minimum(coverage[first], coverage[second]).sum()
        union = np.maximum(coverage[first], coverage[second]).sum()
        assert overlap / union < 0.85, (SHAPE_NAMES[first], SHAPE_NAMES[second])


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("shape", range(len(SHAPE_NAMES)))
def test_every_rotation_step_changes_the_image_and_the_period_returns_it(shape, image_size):
    rows = rows_varying(ROTATION, (shape, 0, 0, 0, 3, 4))  # the smallest size: hardest to tell apart
    images = render_shapes(rows, image_size)
    for first, second in itertools.combinations(range(len(rows)), 2):
        assert np.abs(images[first] - images[second]).sum() > 1.0  # more than one whole pixel's worth
    name = SHAPE_NAMES[shape]
    _, radius, _, centre = shapes.factor_geometry(rows[0], image_size)
    start = shapes.draw_coverage(name, radius, 0.0, centre, image_size)
    turned = shapes.draw_coverage(name, radius, shapes.ROTATION_PERIODS[name], centre, image_size)
    assert np.allclose(start, turned, atol=1e-6)  # one documented period later it looks the same


def inside_by_ray_casting(x: float, y: float, vertices: np.ndarray) -> bool:
    """The classic crossing-number test (Franklin's pnpoly) for one point, edge by edge."""
    inside = False
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


@pytest.mark.parametrize("seed", range(4))
def test_polygon_fill_matches_ray_casting_point_by_point(seed):
    rng = np.random.default_rng(seed)
    corners = 7 + seed
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
    lengths = rng.uniform(3, 14, corners)  # a random, usually concave, star-shaped outline
    vertices = np.stack([15 + lengths * np.cos(angles), 15 + lengths * np.sin(angles)], axis=1)
    filled = shapes.fill_polygon(vertices, 30, 30)
    expected = np.array([[inside_by_ray_casting(column + 0.5, row + 0.5, vertices) for column in range(30)]
                         for row in range(30)])
    assert expected.sum() > 50 and np.array_equal(filled, expected)


def test_edges_are_anti_aliased():
    images = make_shapes(20, image_size=32, seed=6).images
    brightness = images.max(axis=-1) / images.max(axis=(1, 2, 3))[:, None, None]
    partial = ((brightness > 0.05) & (brightness < 0.95)).sum(axis=(1, 2))
    assert (partial >= 6).all()


def test_split_is_deterministic_disjoint_and_keeps_each_combination_on_one_side():
    first = sample_factors(6000, seed=1)
    train, test = split_shapes(first)
    again_train, again_test = split_shapes(first)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(first)))
    assert abs(len(test) / len(first) - 0.2) < 0.03
    assert set(first[test, SHAPE]) == set(range(len(SHAPE_NAMES)))
    second = sample_factors(6000, seed=2)
    second_train, second_test = split_shapes(second)
    test_rows = {tuple(row) for row in first[test]} | {tuple(row) for row in second[second_test]}
    train_rows = {tuple(row) for row in first[train]} | {tuple(row) for row in second[second_train]}
    assert not test_rows & train_rows
    everything = sample_factors(None)
    assert len(split_shapes(everything)[1]) == round(0.2 * len(everything))


@pytest.mark.parametrize("call", [
    lambda: make_shapes(5, image_size=48),
    lambda: make_shapes(0, image_size=32),
    lambda: make_shapes(math.prod(FACTOR_SIZES) + 1, image_size=32),
    lambda: render_shapes(np.array([[0, 6, 0, 0, 0, 0]]), 32),
    lambda: render_shapes(np.zeros((2, 5), dtype=int), 32),
    lambda: split_shapes(sample_factors(10), test_fraction=1.0),
    lambda: render_shapes(np.zeros((1, 6), dtype=int), 32, dtype=np.float64),
])
def test_bad_requests_raise_a_data_error(call):
    with pytest.raises(DataError):
        call()


@pytest.mark.slow
def test_every_combination_gives_a_different_image():
    images, factors, labels, _ = make_shapes(None, image_size=32, dtype=np.uint8)
    assert len(images) == math.prod(FACTOR_SIZES) == 61_440
    digests = {hashlib.sha1(image.tobytes()).digest() for image in images}
    assert len(digests) == len(images)
