"""AppTest of the presenter tour (pages/tour.py, pages/common/tour_steps.py): every step renders a live view of the
model, the keys component and the buttons step through it, a link opens any step, and leaving opens the page
that continues the step with the same model and view."""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import vae
from conftest import (APP, TIMEOUT, MAP_COMPONENT, MODEL_2D, MODEL_16D, app_model_path, assert_clean, latent_map, map_click, map_elements,
                      map_json, open_page, page_text)
from pages.common import tour_frame, tour_steps

pytestmark = [pytest.mark.usefixtures("navigation_mode"), pytest.mark.slow]
TITLES = [step.title for step in tour_steps.STEPS]


def key_event(at, value):
    """Simulate the presenter's key as tour_keys.js sends it: the component's "step" trigger, then a rerun."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    element = next(item for item in at.get("bidi_component") if item.proto.component_name == tour_frame.KEYS_COMPONENT)
    trigger_id = f"$$STREAMLIT_INTERNAL_KEY_{element.proto.id}__events"  # components.v2's trigger aggregator
    states = WidgetStates()
    states.widgets.extend(state for state in at._tree.get_widget_states().widgets if state.id != trigger_id)
    injected = states.widgets.add()
    injected.id = trigger_id
    injected.json_trigger_value = json.dumps([{"event": "step", "value": value}])
    return at._run(states)


def title(at) -> str:
    return at.title[0].value


def test_the_keys_and_the_buttons_step_through_the_tour_and_the_link_follows(app):
    open_page(app, "tour")
    assert title(app) == TITLES[0] and app.query_params["step"] == "1"
    for expected in (1, 2, 3, 4, 4):  # "next" on the last step stays there
        key_event(app, "next")
        assert_clean(app)
        assert title(app) == TITLES[expected] and app.query_params["step"] == str(expected + 1)
    key_event(app, "previous")
    assert title(app) == TITLES[3]
    key_event(app, "first")
    assert title(app) == TITLES[0] and app.button(key="tour_back").disabled
    key_event(app, "previous")
    assert title(app) == TITLES[0]
    key_event(app, "last")
    assert title(app) == TITLES[4] and app.button(key="tour_next").disabled
    for junk in ("sideways", 3, None, {"step": "next"}):
        key_event(app, junk)
        assert_clean(app)
        assert title(app) == TITLES[4]
    app.button(key="tour_back").click().run()
    assert title(app) == TITLES[3]
    app.button(key="tour_next").click().run()
    assert title(app) == TITLES[4]


def test_each_step_is_a_live_view_of_the_model_in_use(app, media):
    open_page(app, "tour", MODEL_16D)
    model = vae.load_model(app_model_path(app))
    digits = vae.load_dataset("digits")
    firsts = [int(np.flatnonzero(digits.test_labels == label)[0]) for label in range(3)]  # one of each class
    codes = model.encode(digits.test_images[firsts])[0]
    for code in codes:  # step 1: the code of each test picture, encoded now
        assert f"→ **{tour_steps.code_text(code)}** →" in page_text(app)
    assert "… 16 numbers)" in tour_steps.code_text(codes[0])
    assert len(app.get("image")) == 2 * len(firsts)  # each picture and its redrawing

    key_event(app, "next")  # step 2: the map, no picture yet
    data = latent_map(app)
    means = model.encode(digits.test_images)[0]
    np.testing.assert_allclose(np.abs(data["points"]), np.abs(vae.pca_projection(means).to_2d(means)), atol=1e-4)
    assert data.get("live") is None and data["marker"] is None

    key_event(app, "next")  # step 3: the same map with the decoder in the page, its picture twice as large
    data = map_json(app)
    assert data["live"]["decoder"] and data["picture_pixels"] == tour_steps.LIVE_PICTURE_PIXELS
    assert data["live"]["point"] == [0.0] * 16

    key_event(app, "next")  # step 4: the path between two test pictures of different classes, and its scrubber
    data = map_json(app)
    other = int(np.flatnonzero(digits.test_labels != digits.test_labels[0])[0])
    path = vae.lerp(means[0], means[other], tour_steps.INTERPOLATION_STEPS)
    projection = vae.pca_projection(means)
    signs = np.sign(np.sum(latent_map(app)["points"] * projection.to_2d(means), axis=0))  # PCA's axes: either way
    np.testing.assert_allclose(data["path"], projection.to_2d(path) * signs, atol=1e-4)
    assert data["live"]["point"] == pytest.approx(means[0], abs=1e-5)
    scrubbers = [item for item in app.get("bidi_component") if item.proto.component_name == MAP_COMPONENT
                 and json.loads(item.proto.json).get("mode") == "scrubber"]
    assert len(scrubbers) == 1 and json.loads(scrubbers[0].proto.json)["a"] == pytest.approx(means[0], abs=1e-5)

    key_event(app, "next")  # step 5: new pictures from random codes, drawn now; the button draws others
    first = [media.image(img)[0] for element in app.get("image") for img in element.proto.imgs]
    app.button(key="tour_new_samples").click().run()
    second = [media.image(img)[0] for element in app.get("image") for img in element.proto.imgs]
    assert len(first) == len(second) == 1 and first != second
    assert app.session_state["tour_seed"] == 1


def test_a_link_opens_any_step_and_a_bad_one_says_so(app):
    app.query_params["step"] = "4"
    open_page(app, "tour")
    assert title(app) == TITLES[3]
    app.query_params["step"] = "9"
    app.run()
    assert title(app) == TITLES[3]
    assert any("step=9" in item.value for item in app.warning) and app.query_params["step"] == "4"


@pytest.mark.parametrize("step, page, heading", [
    (0, "reconstructions", "Reconstructions"), (1, "explore", "Latent space"), (3, "interpolate", "Interpolate"),
    (4, "generate", "Generate new pictures")])
def test_leaving_opens_the_page_that_continues_the_step(app, step, page, heading):
    app.query_params["step"] = str(step + 1)
    open_page(app, "tour", MODEL_2D)
    app.button(key="tour_leave").click().run()
    assert_clean(app)
    assert title(app) == heading and app.query_params["model"] == MODEL_2D
    if page == "interpolate":  # the same two test pictures as the tour's path
        digits = vae.load_dataset("digits")
        other = int(np.flatnonzero(digits.test_labels != digits.test_labels[0])[0])
        assert (app.query_params["a"], app.query_params["b"]) == ("0", str(other))
        assert app.session_state["interp_ends"]["b"] == {"index": other}


def test_leaving_the_hover_step_keeps_the_point_clicked_in_the_tour(app):
    app.query_params["step"] = "3"
    open_page(app, "tour", MODEL_2D)
    map_click(app, 0.75, -0.5)
    assert_clean(app)
    assert map_json(app)["marker"] == pytest.approx([0.75, -0.5]) and map_json(app)["live"]["point"] == \
        pytest.approx([0.75, -0.5])
    app.button(key="tour_leave").click().run()
    assert title(app) == "Latent space" and app.query_params["z"] == "0.7500,-0.5000"
    assert "z1 = 0.750, z2 = -0.500" in page_text(app)  # Latent space shows the same point
    assert len(map_elements(app)) == 1


def test_the_start_page_links_to_the_tour_and_the_link_opens_its_first_step(app):
    open_page(app, "home")
    links = [link.proto for link in app.get("page_link") if link.proto.page.lower().endswith("tour")]
    assert len(links) == 1 and "presenter tour" in links[0].label.lower()
    follow = AppTest.from_file(APP, default_timeout=TIMEOUT)  # a new visitor following the link
    open_page(follow, "tour")
    assert title(follow) == TITLES[0] and follow.query_params["step"] == "1"
