"""AppTest of the Latent space page at 1,000,000 test codes: the points are encoded once and travel once.

The saved codes of a 2-D model are replaced by a million synthetic ones (vae.write_test_codes), as a large
dataset's would be; the browser side of a million dots is tests/test_browser_million.py.
"""
from __future__ import annotations

import base64
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import vae
from conftest import APP, DIGITS, MODEL_2D, TIMEOUT, assert_clean, map_click, map_elements, map_json, page_text
from pages.common import latent_map

COUNT = 1_000_000
BIG_TIMEOUT = max(TIMEOUT, 300)  # seconds: a run that reads and plots a million codes on a loaded 2-core machine


@pytest.mark.slow
def test_a_million_points_are_encoded_once_and_sent_once(model_folder, tmp_path, monkeypatch):
    folder = tmp_path / "million"
    folder.mkdir()
    shutil.copy2(model_folder / f"{MODEL_2D}.pt", folder / f"{MODEL_2D}.pt")
    rng = np.random.default_rng(0)
    means, labels = rng.normal(size=(COUNT, 2)).astype(np.float32), rng.integers(0, 10, COUNT)
    vae.write_test_codes(folder / f"{MODEL_2D}.pt", vae.TestCodes(means, labels, tuple(DIGITS), "digits"),
                         vae.dataset_version("digits"))
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    encoded = []
    real = base64.b64encode
    monkeypatch.setattr(latent_map.base64, "b64encode", lambda raw: encoded.append(len(raw)) or real(raw))
    big = AppTest.from_file(APP, default_timeout=BIG_TIMEOUT).run()
    assert_clean(big)
    first = map_json(big)["points"]
    assert first["count"] == COUNT
    x = np.frombuffer(base64.b64decode(first["x"]), "<f4")
    np.testing.assert_array_equal(x, means[:, 0])  # a 2-D model's plane is its codes
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(first["labels"]), "<u2"), labels)
    big_arrays = sum(size >= COUNT * 2 for size in encoded)
    assert big_arrays >= 3  # x, y, labels (and the codes) of the million, once
    map_click(big, 0.5, 0.5)
    assert_clean(big)
    assert "z1 = 0.500, z2 = 0.500" in page_text(big)
    assert map_json(big)["points"] == {"token": first["token"], "count": COUNT}  # sent once
    assert sum(size >= COUNT * 2 for size in encoded) == big_arrays  # and not encoded again for the click's run
    assert len(map_elements(big)[0].proto.json) < 100_000
