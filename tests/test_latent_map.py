"""The Latent space map's data (pages/common/latent_map.py): what the canvas component is sent, as plain JSON."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import decode_map
from pages.common import latent_map
from vae import plots


def test_points_and_labels_survive_the_trip_as_json():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(70_000, 2)).astype(np.float32)
    labels = rng.integers(0, 10, 70_000)
    data = latent_map.map_data(points, labels, [str(d) for d in range(10)], (-3.0, 3.0), (-2.5, 4.0))
    decoded = decode_map(json.loads(json.dumps(data)))  # exactly what travels to the browser
    np.testing.assert_array_equal(decoded["points"], points)
    np.testing.assert_array_equal(decoded["label_array"], labels)
    assert decoded["count"] == 70_000
    assert decoded["x_range"] == [-3.0, 3.0] and decoded["y_range"] == [-2.5, 4.0]
    assert len(data["points"]["x"]) < 70_000 * 4 * 4 / 3 + 4  # base64 float32: about 5.3 bytes per dot for x, not JSON text


def test_classes_beyond_the_names_get_a_name_colour_and_shape():
    data = latent_map.map_data(np.zeros((3, 2)), np.array([0, 1, 12]), ["cat", "dog"], (-1, 1), (-1, 1))
    assert data["class_names"] == ["cat", "dog"] + [f"class {c}" for c in range(2, 13)]
    assert data["colors"][:2] == [plots.class_color(0), plots.class_color(1)]
    assert data["colors"][11] == data["colors"][0] and data["symbols"][11] != data["symbols"][0]  # colour repeats


def test_marker_background_hidden_and_titles():
    png = b"\x89PNG fake bytes"
    data = latent_map.map_data(np.zeros((2, 2)), np.array([0, 1]), ["a", "b"], (-1, 1), (-1, 1),
                                marker=(np.float32(0.5), -0.25), background_png=png, axis_titles=("PCA 1", "PCA 2"),
                                hidden_classes=[1, np.int64(1)])
    assert data["marker"] == [0.5, -0.25]
    assert data["background"] == plots.png_data_uri(png)
    assert data["hidden"] == [1] and data["axis_titles"] == ["PCA 1", "PCA 2"]
    json.dumps(data)  # plain values only (numpy scalars would not serialise)


def test_no_test_images_gives_an_empty_map():
    data = latent_map.map_data(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), ("a", "b"), (-3, 3), (-3, 3))
    decoded = decode_map(data)
    assert decoded["count"] == 0 and decoded["points"].shape == (0, 2)
    assert data["class_names"] == ["a", "b"] and data["marker"] is None and data["background"] is None


@pytest.mark.parametrize("labels, expected", [([-1, 0, 3], [0, 0, 3]), ([70_000], [65_535])])
def test_labels_outside_uint16_are_clipped(labels, expected):
    encoded = latent_map.encode_labels(np.array(labels))
    assert np.frombuffer(base64.b64decode(encoded), dtype="<u2").tolist() == expected


def test_the_token_names_exactly_the_arrays_sent():
    rng = np.random.default_rng(1)
    points, labels = rng.normal(size=(50, 2)), rng.integers(0, 3, 50)
    first = latent_map.point_set(points, labels)
    assert latent_map.point_set(points.copy(), labels.copy())["token"] == first["token"]  # the same arrays, the same name
    moved = points.copy()
    moved[7, 1] += 1e-3
    codes = rng.normal(size=(50, 16))
    others = [latent_map.point_set(moved, labels), latent_map.point_set(points, (labels + 1) % 3),
              latent_map.point_set(points, labels, codes)]
    assert len({first["token"], *(other["token"] for other in others)}) == 4
    with_codes = decode_map({"points": others[2]})
    np.testing.assert_array_equal(with_codes["codes"], codes.astype(np.float32))
    assert first["count"] == 50 and "codes" not in first


def test_codes_past_the_limit_stay_on_the_server(monkeypatch):
    monkeypatch.setattr(latent_map, "MAX_CODE_FLOATS", 99)
    assert "codes" not in latent_map.point_set(np.zeros((10, 2)), np.zeros(10), np.zeros((10, 10)))
    assert "codes" in latent_map.point_set(np.zeros((9, 2)), np.zeros(9), np.zeros((9, 11)))


def test_the_component_script_is_one_module_with_its_imports_joined():
    source = latent_map.component_js()
    assert not re.search(r"^import ", source, re.MULTILINE) and "from \"." not in source  # nothing left to fetch
    here = Path(latent_map.__file__).parent
    modules = [here / "map_layers.js", here / "map_select.js", here / "map_draw.js", here.parent / "decoder.js",
               here / "map_live.js", here / "map_scrubber.js", here / "map_link.js", here / "map_index.js"]
    for module in modules:  # each once, its lines as written (bar "export" and its own imports)
        lines = [line.removeprefix("export ") for line in module.read_text().splitlines()
                 if line.strip() and not line.startswith(("import ", "         "))]
        assert source.count(f"// ---- {module.name}\n") == 1
        assert all(line in source for line in lines), module.name
    order = [source.index(f"// ---- {module.name}") for module in modules]
    assert order == sorted(order)  # each before its first user: the decoder before map_live.js, which uses it
    assert source.count("export default function") == 1 and source.rstrip().endswith("}")
    assert len(source) < 1.05 * sum(len(path.read_text()) for path in [*modules, here / "latent_map.js"])


def test_a_point_set_is_encoded_once_and_shared_by_later_runs(monkeypatch):
    rng = np.random.default_rng(2)
    points, labels = rng.normal(size=(40, 2)).astype(np.float32), rng.integers(0, 5, 40)
    encoded = []
    real = base64.b64encode
    monkeypatch.setattr(latent_map.base64, "b64encode", lambda raw: encoded.append(len(raw)) or real(raw))
    first = latent_map.point_set(points + 100.0, labels)  # a set no other test makes
    assert len(encoded) == 3  # x, y, labels
    again = latent_map.point_set((points + 100.0).copy(), labels.copy())  # a later run: equal arrays, new objects
    assert again is first and len(encoded) == 3
    for k in range(latent_map.POINT_SETS_KEPT):  # newer sets push it out: the memory held stays bounded
        latent_map.point_set(points + k, labels)
    assert latent_map.point_set(points + 100.0, labels) is not first and len(encoded) == 3 * (latent_map.POINT_SETS_KEPT + 2)
    assert len(latent_map._encoded) <= latent_map.POINT_SETS_KEPT


@pytest.mark.slow
def test_a_million_points_travel_as_base64_and_are_encoded_once():
    rng = np.random.default_rng(3)
    points, labels = rng.normal(size=(1_000_000, 2)).astype(np.float32), rng.integers(0, 10, 1_000_000)
    data = latent_map.map_data(points, labels, [str(d) for d in range(10)], (-5.0, 5.0), (-5.0, 5.0), codes=points)
    text = json.dumps(data)  # what travels: well under Streamlit's server.maxMessageSize (200 MB by default)
    assert len(text) < 30e6
    decoded = decode_map(json.loads(text))
    np.testing.assert_array_equal(decoded["points"], points)
    np.testing.assert_array_equal(decoded["label_array"], labels)
    np.testing.assert_array_equal(decoded["codes"], points)
    later = latent_map.map_data(points.copy(), labels.copy(), [str(d) for d in range(10)], (-5.0, 5.0), (-5.0, 5.0),
                                codes=points.copy())
    assert later["points"] is data["points"]
