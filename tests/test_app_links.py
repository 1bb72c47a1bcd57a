"""AppTest of the shareable link: the view goes into the address and comes back from it (pages/common/links.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import vae
from conftest import (APP, MODEL_2D, MODEL_16D, TIMEOUT, app_model_path, assert_clean, latent_map, map_click,
                      map_event, page_text)
from pages.common import links

EXPLORE_VIEW = ("z", "img", "plane", "hide", "bg")


def new_visit(app: AppTest) -> AppTest:
    """A new browser session that opens the link ``app`` shows now."""
    opened = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in app.query_params.items():
        opened.query_params[key] = value
    return opened


def warnings(at: AppTest) -> str:
    """Every warning on the page, joined."""
    return " ".join(item.value for item in at.warning)


def link_values(at: AppTest) -> list[str]:
    """Every value in the address."""
    return [str(value) for value in at.query_params.values()]


# ------------------------------------------------------------------ Latent space


@pytest.mark.slow
def test_the_latent_space_view_survives_a_link(app):
    app.run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    app.radio(key="explore_plane").set_value("dims").run()
    app.selectbox(key="explore_dim_x").set_value(5).run()
    app.selectbox(key="explore_dim_y").set_value(2).run()
    app.checkbox(key="explore_background").check().run()
    map_event(app, "legend", 7)
    map_event(app, "legend", 2)
    digits = vae.load_dataset("digits")
    index = int(np.flatnonzero(digits.test_labels == 4)[1])
    map_click(app, 0.0, 0.0, index)
    assert_clean(app)
    link = app.query_params
    assert link["model"] == MODEL_16D and link["plane"] == "z6,z3" and link["hide"] == "2,7"
    assert link["bg"] == "1" and link["img"] == str(index)
    point = app.session_state["explore_point"]["z"]
    assert link["z"] == links.latent_text(point)

    opened = new_visit(app).run()
    assert_clean(opened)
    assert not opened.warning
    assert opened.radio(key="explore_plane").value == "dims"
    assert (opened.selectbox(key="explore_dim_x").value, opened.selectbox(key="explore_dim_y").value) == (5, 2)
    assert opened.checkbox(key="explore_background").value
    shown = latent_map(opened)
    assert shown["hidden"] == [2, 7] and shown["axis_titles"] == ["z6", "z3"] and shown["background"]
    assert opened.session_state["explore_point"]["z"] == pytest.approx(point, abs=1e-4)
    assert f"Test image #{index}" in page_text(opened)
    assert {key: opened.query_params[key] for key in link} == dict(link.items())  # the link stays as it came


@pytest.mark.slow
def test_a_link_with_only_a_test_image_shows_that_image_at_its_code(app):
    app.query_params["img"] = "17"
    app.run()
    assert_clean(app)
    digits = vae.load_dataset("digits")
    code = vae.load_model(app_model_path(app)).encode(digits.test_images[17:18])[0][0]
    assert app.session_state["explore_point"]["z"] == pytest.approx(code.tolist(), abs=1e-4)
    assert "Test image #17" in page_text(app)


@pytest.mark.slow
@pytest.mark.parametrize(("param", "bad"), [
    ("plane", "z1,z1"), ("plane", "z0,z2"), ("plane", "z17,z1"), ("plane", "sideways"), ("plane", "z1"),
    ("bg", "yes"), ("hide", "x"), ("hide", "3,10"), ("hide", "-1"), ("img", "abc"), ("img", "99999"),
    ("img", "-1"), ("z", "inf," * 15 + "0"),
])
def test_a_bad_view_value_in_the_link_is_ignored_with_a_note(app, param, bad):
    app.query_params["model"] = MODEL_16D
    app.query_params[param] = bad
    app.run()
    assert_clean(app)
    assert f"was ignored ({param}=" in warnings(app)
    assert param not in app.query_params
    assert app.radio(key="explore_plane").value == "pca"
    assert not app.checkbox(key="explore_background").value
    assert latent_map(app)["hidden"] == []
    assert "Test image #" not in page_text(app)


@pytest.mark.slow
def test_a_plane_in_the_link_of_a_2d_model_is_ignored_with_a_note(app):
    app.query_params["plane"] = "z1,z2"
    app.run()
    assert_clean(app)
    assert "was ignored (plane=" in warnings(app)


@pytest.mark.slow
def test_an_infinite_point_never_enters_the_link(app):
    app.run()
    app.session_state["explore_point"] = {"model": MODEL_2D, "z": [math.inf, 0.0], "chosen": True}
    app.run()
    assert_clean(app)
    assert not any(word in value.lower() for value in link_values(app) for word in ("inf", "nan"))


@pytest.mark.slow
def test_changing_model_drops_the_view_of_the_old_one(app):
    app.query_params.update({"model": MODEL_16D, "plane": "z2,z1", "hide": "3", "img": "5", "z": "0.5," * 15 + "0.5"})
    app.run()
    assert_clean(app)
    assert set(EXPLORE_VIEW) - {"bg"} <= set(app.query_params)
    app.selectbox(key="sidebar_model").set_value(MODEL_2D).run()
    assert_clean(app)
    assert app.query_params["model"] == MODEL_2D
    assert not {"z", "img", "plane"} & set(app.query_params), app.query_params  # points of the old model
    assert app.query_params.get("hide") == links.classes_text(latent_map(app)["hidden"])  # what the map shows now
    map_click(app, 0.5, -0.5)
    assert app.query_params["z"] == "0.5000,-0.5000"  # the new model's own point


# ------------------------------------------------------------------ Interpolate


def open_interpolate(at: AppTest) -> AppTest:
    """Run the app, then switch to the Interpolate page."""
    at.run()
    return at.switch_page("pages/interpolate.py").run()


@pytest.mark.slow
def test_the_interpolation_view_survives_a_link(app):
    open_interpolate(app)
    app.slider(key="interp_steps").set_value(6).run()
    app.radio(key="interp_method").set_value("spherical").run()
    map_click(app, 1.0, -0.5)
    assert_clean(app)
    link = app.query_params
    assert link["steps"] == "6" and link["path"] == "spherical" and link["za"] == "1.0000,-0.5000"
    assert link["b"] == "1"

    opened = open_interpolate(new_visit(app))
    assert_clean(opened)
    assert not opened.warning
    assert opened.slider(key="interp_steps").value == 6
    assert opened.radio(key="interp_method").value == "spherical"
    assert "a point on the map (1.00, -0.50)" in page_text(opened) and "test image #1 " in page_text(opened)


@pytest.mark.slow
def test_default_steps_and_path_stay_out_of_the_link(app):
    open_interpolate(app)
    assert_clean(app)
    assert "steps" not in app.query_params and "path" not in app.query_params


@pytest.mark.slow
@pytest.mark.parametrize(("param", "bad"), [("steps", "1"), ("steps", "33"), ("steps", "2.5"), ("steps", "nan"),
                                            ("steps", "many"), ("path", "curvy")])
def test_a_bad_path_value_in_the_link_is_ignored_with_a_note(app, param, bad):
    app.query_params[param] = bad
    open_interpolate(app)
    assert_clean(app)
    assert f"was ignored ({param}=" in warnings(app)
    assert app.slider(key="interp_steps").value == 10 and app.radio(key="interp_method").value == "linear"
    assert param not in app.query_params


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # an infinite end makes NaN pictures, shown as such
def test_an_infinite_end_never_enters_the_link(app):
    open_interpolate(app)
    app.session_state["interp_ends"] = {"model": MODEL_2D, "next": "a", "a": {"z": [math.inf, 1.0]}, "b": {"index": 3}}
    app.run()
    assert_clean(app)
    assert not any(word in value.lower() for value in link_values(app) for word in ("inf", "nan"))


# ------------------------------------------------------------------ the helpers themselves


@pytest.mark.parametrize("z", [[0.0, math.nan], [math.inf, 1.0], [-math.inf], []])
def test_latent_text_refuses_what_is_not_a_finite_point(z):
    assert links.latent_text(z) is None


@pytest.mark.parametrize(("text", "expected"), [("pca", ("pca", (0, 1))), ("z3,z5", ("dims", (2, 4))),
                                                ("Z16, z1", ("dims", (15, 0))), ("3,5", ("dims", (2, 4)))])
def test_parse_plane_reads_what_plane_text_writes(text, expected):
    assert links.parse_plane(text, 16) == expected
    assert links.parse_plane(links.plane_text(*expected), 16) == expected
