"""AppTest of the live map's Python side (pages/common/live.py): what travels to the browser, and when.

The decoder's weights and the map's points go once per session, named by a content hash; a click then
sends only the marker; the browser can ask for them again ("need"). A model the browser cannot run keeps
server decoding with a note. The sliders drawn in the map send only their final point.
"""
from __future__ import annotations

import base64
import json
import math
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import vae
from conftest import (APP, DIGITS, MAP_COMPONENT, MODEL_2D, MODEL_16D, TIMEOUT, app_model_path, assert_clean,
                      map_click, map_elements, map_event, map_json, map_slider, page_text)
from pages.common import live
from vae.io import web as vae_web


def decoder_sent(at: AppTest) -> dict | None:
    return map_json(at)["live"]["decoder"]


def captions(at: AppTest) -> list[str]:
    return [item.value for item in at.caption]


# ------------------------------------------------------------------ the decoder


def test_the_decoder_travels_once_per_session_and_again_when_the_browser_asks(app):
    app.run()
    expected = vae_web.export_decoder(vae.load_model(app_model_path(app)))
    sent = decoder_sent(app)
    assert sent["header"]["sha256"] == expected.sha256
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(sent["weights"]), "<f4"), expected.weights)
    assert live.FALLBACK_NOTE not in captions(app)
    map_click(app, 0.5, 0.5)
    assert decoder_sent(app) == {"sha256": expected.sha256}  # by name only: the browser keeps the weights
    map_event(app, "need", {"decoder": expected.sha256})  # a browser that lost them
    assert decoder_sent(app)["weights"] == sent["weights"]
    map_click(app, 0.25, 0.25)
    assert decoder_sent(app) == {"sha256": expected.sha256}

    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    other = decoder_sent(app)
    assert other["header"]["latent_dim"] == 16 and other["header"]["sha256"] != expected.sha256 and other["weights"]
    app.selectbox(key="sidebar_model").set_value(MODEL_2D).run()
    assert decoder_sent(app) == {"sha256": expected.sha256}  # this session sent it already

    again = AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # another session: another browser tab
    assert decoder_sent(again)["weights"] == sent["weights"]


@pytest.mark.parametrize("asked", [{"decoder": 3}, {"points": None}, "everything", None, {"nothing": "x"}])
def test_a_malformed_need_resends_nothing(app, asked):
    app.run()
    map_click(app, 0.5, 0.5)
    map_event(app, "need", asked)
    assert_clean(app)
    assert set(decoder_sent(app)) == {"sha256"} and set(map_json(app)["points"]) == {"token", "count"}


def test_a_decoder_the_browser_cannot_run_keeps_server_decoding_with_a_note(app, monkeypatch):
    def refuse(model) -> None:
        raise vae_web.UnsupportedLayer("The decoder uses a step the in-browser decoder cannot run yet: Tanh (net.1).")

    monkeypatch.setattr(vae, "export_decoder", refuse)
    live._export_cached.clear()  # the export is cached per checkpoint file version
    try:
        app.run()
        assert_clean(app)
        assert decoder_sent(app) is None
        assert captions(app).count(live.FALLBACK_NOTE) == 1  # one line under the map
        assert "Tanh" not in " ".join(captions(app))  # in words a user reads, not the layer's name
        map_click(app, 1.25, -0.5)
        assert_clean(app)
        assert "z1 = 1.250, z2 = -0.500" in page_text(app) and len(app.get("image")) >= 1  # the server decodes
    finally:
        live._export_cached.clear()


# ------------------------------------------------------------------ the points


def test_the_points_travel_once_per_plane(app):
    app.run()
    first = map_json(app)["points"]
    assert first["count"] == len(vae.load_dataset("digits").test_labels) and "x" in first and "codes" not in first
    map_click(app, 0.5, 0.5)
    map_event(app, "legend", 3)
    assert map_json(app)["points"] == {"token": first["token"], "count": first["count"]}

    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    pca = map_json(app)["points"]
    codes = np.frombuffer(base64.b64decode(pca["codes"]), "<f4").reshape(-1, 16)
    means = vae.load_model(app_model_path(app)).encode(vae.load_dataset("digits").test_images)[0]
    np.testing.assert_allclose(codes, means, rtol=1e-4, atol=1e-5)  # hovering a dot shows its own code
    app.radio(key="explore_plane").set_value("dims").run()
    dims = map_json(app)["points"]
    assert "x" in dims and dims["token"] != pca["token"]  # another plane: other positions
    app.radio(key="explore_plane").set_value("pca").run()
    assert map_json(app)["points"] == {"token": pca["token"], "count": pca["count"]}
    map_event(app, "need", {"points": pca["token"]})
    assert map_json(app)["points"]["x"] == pca["x"]


def test_a_click_at_70000_points_sends_no_more_than_at_a_few_hundred(app, model_folder, tmp_path, monkeypatch):
    app.run()
    map_click(app, 0.5, 0.5)
    few = len(map_elements_json(app))
    folder = tmp_path / "big"
    folder.mkdir()
    shutil.copy2(model_folder / f"{MODEL_2D}.pt", folder / f"{MODEL_2D}.pt")
    rng = np.random.default_rng(0)
    codes = vae.TestCodes(rng.normal(size=(70_000, 2)).astype(np.float32), rng.integers(0, 10, 70_000), tuple(DIGITS),
                          "digits")
    vae.write_test_codes(folder / f"{MODEL_2D}.pt", codes, vae.dataset_version("digits"))
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    big = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert map_json(big)["points"]["count"] == 70_000
    assert len(map_elements_json(big)) > 70_000 * 10  # the first view carries the points (about 13 bytes each)
    map_click(big, 0.5, 0.5)
    assert_clean(big)
    assert "z1 = 0.500, z2 = 0.500" in page_text(big)
    assert len(map_elements_json(big)) <= few + 64  # the marker, not the points: as small as at a few hundred


def map_elements_json(at: AppTest) -> str:
    """The map's data in the last run, as the JSON text that travels."""
    return map_elements(at)[0].proto.json


# ------------------------------------------------------------------ the sliders and the lift


def test_the_sliders_send_their_final_point(app):
    app.run()
    digits = vae.load_dataset("digits")
    map_click(app, 0.0, 0.0, int(np.flatnonzero(digits.test_labels == 3)[0]))
    assert "Test image #" in page_text(app)
    map_slider(app, 0, 1.5)
    assert_clean(app)
    point = map_json(app)["live"]["point"]
    assert point[0] == pytest.approx(1.5) and "z1 = 1.500" in page_text(app)
    assert "Test image #" not in page_text(app)  # the clicked test image is forgotten, as before
    assert app.query_params["z"] == f"1.5000,{point[1]:.4f}" and app.session_state["explore_z_0"] == pytest.approx(1.5)
    assert map_json(app)["marker"] == pytest.approx(point)
    map_event(app, "slider", {"z": [99.0, point[1]]})
    high = map_json(app)["live"]["ranges"][0][1]
    assert map_json(app)["live"]["point"][0] == pytest.approx(high)  # kept inside the slider's range


@pytest.mark.parametrize("value", [{"z": [1.0]}, {"z": ["1", 0.0]}, {"z": [math.nan, 0.0]}, {"z": [True, 0.0]},
                                   {"z": [math.inf, 0.0]}, {"z": "1,0"}, {"x": 1.0}, [1.0, 0.0], None])
def test_a_malformed_slider_event_changes_nothing(app, value):
    app.run()
    map_slider(app, 1, -0.75)
    map_event(app, "slider", value)
    assert_clean(app)
    assert not app.error
    assert map_json(app)["live"]["point"] == pytest.approx([0.0, -0.75])


def test_the_lift_sent_lifts_a_click_as_the_server_does(app):
    app.run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    map_slider(app, 5, 1.0)
    sent = map_json(app)["live"]
    lift, ranges = sent["lift"], np.array(sent["ranges"])
    assert lift["base"] == pytest.approx(sent["point"]) and sent["point"][5] == pytest.approx(1.0)
    mean, axes, base = (np.array(lift[key], np.float64) for key in ("mean", "axes", "base"))
    spot = np.array([0.5, 0.25])
    code = base + (spot - (base - mean) @ axes.T) @ axes  # map_live.js / decoder.js createLift, in numpy
    expected = np.clip(code.astype(np.float32), ranges[:, 0], ranges[:, 1])
    map_click(app, *spot)
    np.testing.assert_allclose(app.session_state["explore_point"]["z"], expected, atol=1e-6)


# ------------------------------------------------------------------ Interpolate


def scrubber_json(at: AppTest) -> dict:
    """The data of Interpolate's scrubber (the map component in its "scrubber" mode)."""
    sent = [json.loads(element.proto.json) for element in at.get("bidi_component")
            if element.proto.component_name == MAP_COMPONENT]
    (scrubber,) = [data for data in sent if data.get("mode") == "scrubber"]
    return scrubber


def test_the_scrubber_gets_the_ends_the_path_and_the_decoder_by_name(app):
    app.run()
    app.switch_page("pages/interpolate.py").run()
    app.radio(key="interp_mode").set_value("index").run()
    app.number_input(key="interp_index_b").set_value(17).run()
    app.radio(key="interp_method").set_value("spherical").run()
    assert_clean(app)
    means = vae.load_model(app_model_path(app)).encode(vae.load_dataset("digits").test_images[[0, 17]])[0]
    shown, scrubber = map_json(app), scrubber_json(app)
    np.testing.assert_allclose([scrubber["a"], scrubber["b"]], means, rtol=1e-4, atol=1e-5)
    assert scrubber["method"] == "spherical" and scrubber["group"] == "interp_scatter" == shown["group"]
    assert scrubber["decoder"] == {"sha256": shown["live"]["decoder"]["sha256"]}  # the map beside it sent the weights
    assert shown["legend_local"]  # the legend hides classes in the browser alone on this page
    np.testing.assert_allclose(shown["path"][-1], means[1], atol=1e-4)  # a 2-D model's plane is its codes
    assert shown["live"]["lift"]["base"] is None  # a click lifts from the plane's origin, as on this page
