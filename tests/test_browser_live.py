"""The live map in a real browser: the decoder runs in the page (pages/common/map_live.js, pages/decoder.js).

Hover, a dragged cross, arrow keys, the latent sliders and Interpolate's scrubber decode in the page with
no Streamlit rerun (watched with a MutationObserver on the app's script state); what the page shows is
checked against LatentModel.decode of the point lifted in Python (vae.projection, independently of the
page), and a click commits what the hover showed. Also: a click sends only the marker, and the phone
layout. One server for the module (the fixtures of tests/test_browser.py), on copies of the bundled models.
"""
from __future__ import annotations

import functools
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from benchmarks import browser_harness as h
from benchmarks import live_harness as lh
from test_browser import (DEFAULT_MODEL, artifacts, assert_no_error, browser, browser_ready,  # noqa: F401 - fixtures
                          checkpoint_copy, page, pixel_size, server)
from vae import load_model, plots
from vae.analysis.projection import dims_projection, pca_projection

pytestmark = pytest.mark.e2e

MODEL_16D = "mnist5k-mlp-16d"
PAGE_TOLERANCE = 1e-4  # max abs pixel difference, page against LatentModel.decode (the bound)
CODE_TOLERANCE = 1e-5  # the page's lifted code against vae.projection's (float32; PCA axes from two SVD runs)
HOVER_SPOTS = 10  # empty spots hovered per model, plus a few dots
KEY_STEP = 0.01  # pages/common/latent_map.js KEY_STEP: an arrow key moves the point 1% of the plane
PHONE = {"width": 390, "height": 844}  # the phone viewport
EXPLORE_MAP = "document.querySelector('.st-key-explore_scatter .latent-map').parentElement.__latentMap"
VIEWS = {  # case -> (model, link parameters past ?model=, plane)
    "conv-2d": (DEFAULT_MODEL, {}, "dims"),
    "mlp-16d, PCA": (MODEL_16D, {}, "pca"),
    "mlp-16d, z3 and z5 held at a test code": (MODEL_16D, {"plane": "z3,z5", "img": "5"}, (2, 4)),
}


@functools.lru_cache(maxsize=None)
def saved_means(folder: str, name: str) -> np.ndarray:
    """The test images' codes the app shows for a model (its saved codes file)."""
    return np.load(f"{folder}/{name}.codes.npz")["means"]


@functools.lru_cache(maxsize=None)
def model(folder: str, name: str):
    return load_model(f"{folder}/{name}.pt")


def plane_of(means: np.ndarray, plane) -> tuple:
    """The projection and slider ranges the page uses, computed here from the codes."""
    projection = dims_projection(means.shape[1], (0, 1) if plane == "dims" else plane) if plane != "pca" \
        else pca_projection(means)
    ranges = np.array([plots.axis_range(means[:, d]) for d in range(means.shape[1])], np.float64)
    return projection, ranges


def expected_code(state: dict, means: np.ndarray, projection, ranges: np.ndarray, base: np.ndarray) -> np.ndarray:
    """What a click at the hovered spot commits: the dot's code, or the plane point lifted from ``base``; clipped."""
    if state["index"] is not None:
        code = means[state["index"]].astype(np.float64)
    else:
        code = projection.from_2d(np.array([[state["x"], state["y"]]]), base)[0].astype(np.float64)
    return np.clip(code, ranges[:, 0], ranges[:, 1]).astype(np.float32)


def open_view(page, server, name: str, params: dict) -> None:
    h.open_app(page, f"{server.url}?{urllib.parse.urlencode({'model': name, **params})}")
    h.wait_for_scatter(page)
    h.wait_decoded_shown(page)
    lh.wait_live_ready(page)


def current_point(page) -> np.ndarray:
    """The chosen point the page holds (the base a hover lifts from)."""
    return np.asarray(page.evaluate(f"() => {EXPLORE_MAP}.data.live.point"), np.float64)


def wait_marker_at(page, target, within: float) -> None:
    """Wait until the server's cross (the map's marker) is within ``within`` of plane point ``target``."""
    page.wait_for_function(f"t => {{ const m = {EXPLORE_MAP}.data.marker;"
                           " return Math.hypot(m[0] - t[0], m[1] - t[1]) < t[2]; }", arg=[*target, within])


# ---------------------------------------------------------------- hover


@pytest.mark.parametrize("case", list(VIEWS))
def test_hovering_decodes_in_the_page_exactly_and_without_a_rerun(page, server, checkpoint_copy, artifacts, case):
    name, params, plane = VIEWS[case]
    open_view(page, server, name, params)
    means = saved_means(str(checkpoint_copy), name)
    projection, ranges = plane_of(means, plane)
    base = current_point(page)
    if "img" in params:
        assert base == pytest.approx(np.clip(means[5], ranges[:, 0], ranges[:, 1]), abs=1e-6)  # held at image #5
    spots = h.empty_spots(page, HOVER_SPOTS) + [(dot["x"], dot["y"]) for dot in h.isolated_dots(page, 3)]
    lh.watch_reruns(page)
    codes, shown, indices = [], [], []
    for x, y in spots:
        state = lh.hover(page, x, y)
        assert state["source"] == "hover"
        assert (state["x"], state["y"]) == pytest.approx((x, y), abs=pixel_size(page) + 1e-3)  # under the mouse
        code = expected_code(state, means, projection, ranges, base)
        np.testing.assert_allclose(state["code"], code, atol=CODE_TOLERANCE)
        codes.append(code)
        shown.append(lh.picture(state))
        indices.append(state["index"])
    assert lh.reruns(page) == 0, "hovering reran the app"
    assert indices[:HOVER_SPOTS] == [None] * HOVER_SPOTS and None not in indices[HOVER_SPOTS:]  # spots, then dots
    decoded = model(str(checkpoint_copy), name).decode(np.stack(codes))
    assert np.abs(np.stack(shown) - decoded).max() < PAGE_TOLERANCE
    assert len({picture.tobytes() for picture in shown}) == len(spots)  # a new picture at every spot
    painted = lh.canvas_gray(page)  # what is on screen: the last picture, as grey levels
    assert np.abs(painted.astype(int) - np.round(shown[-1] * 255).astype(int)).max() <= 1
    h.timed_plane_click(page, *spots[0])
    assert lh.reruns(page) >= 1  # the watch does see a run: a click commits through the server
    page.screenshot(path=str(artifacts / f"e2e-live-hover-{name}.png"))
    assert_no_error(page)


@pytest.mark.parametrize("case", ["conv-2d", "mlp-16d, PCA"])
def test_a_click_commits_what_the_hover_showed(page, server, case):
    name, params, _ = VIEWS[case]
    open_view(page, server, name, params)
    spot = h.empty_spots(page, 1)[0]
    dot = h.isolated_dots(page, 1)[0]
    for x, y in (spot, (dot["x"], dot["y"])):
        h.wait_idle(page)
        state = lh.hover(page, x, y)
        hovered = np.round(lh.picture(state) * 255)
        h.arm_decoded_watch(page)
        h.click_plane(page, x, y)  # the same whole pixel
        h.decoded_latency_ms(page)
        h.wait_idle(page)
        committed = lh.server_picture(page, hovered.shape)
        assert np.abs(committed.astype(int) - hovered.astype(int)).max() <= 1  # within 1/255
        np.testing.assert_allclose(current_point(page), state["code"], atol=1e-6)  # the same code


# ---------------------------------------------------------------- moving the point: drag, keys, sliders


def test_dragging_the_cross_decodes_live_and_commits_on_release(page, server, checkpoint_copy):
    open_view(page, server, DEFAULT_MODEL, {})
    target = h.empty_spots(page, 1)[0]
    start = h.plane_to_page(page, *h.map_state(page)["marker"])
    end = h.plane_to_page(page, *target)
    lh.watch_reruns(page)
    page.mouse.move(round(start[0]), round(start[1]))
    page.mouse.down()
    frames = lh.live(page)["frames"]
    page.mouse.move(round(end[0]), round(end[1]), steps=12)
    state = lh.wait_frame(page, frames)
    assert state["source"] == "drag" and state["dragging"]
    assert state["pending"] == pytest.approx(target, abs=pixel_size(page) + 1e-3)  # the cross follows the mouse
    assert lh.reruns(page) == 0, "dragging reran the app before the release"
    code = np.asarray(state["code"], np.float32)
    page.mouse.up()
    wait_marker_at(page, target, 0.05)
    h.wait_idle(page)
    assert lh.reruns(page) >= 1
    np.testing.assert_allclose(current_point(page), code, atol=1e-6)
    assert np.abs(lh.picture(lh.live(page)) - model(str(checkpoint_copy), DEFAULT_MODEL).decode(code[None])[0]).max() \
        < PAGE_TOLERANCE
    assert_no_error(page)


def test_arrow_keys_move_the_point_then_commit_it(page, server):
    open_view(page, server, DEFAULT_MODEL, {})
    state = h.map_state(page)
    (x0, x1), (y0, y1), start = state["x_range"], state["y_range"], state["marker"]
    h.keyed(page, h.EXPLORE_CHART).locator("canvas.latent-map-overlay").focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowUp", "ArrowUp"):
        page.keyboard.press(key)
    moved = lh.live(page)
    assert moved["source"] in ("keys", "point")  # "point" once the server has answered
    expected = [start[0] + 3 * KEY_STEP * (x1 - x0), start[1] + 2 * KEY_STEP * (y1 - y0)]
    wait_marker_at(page, expected, 1e-3)
    h.wait_idle(page)
    assert h.map_state(page)["marker"] == pytest.approx(expected, abs=1e-3)
    assert_no_error(page)


def test_a_latent_slider_decodes_while_it_moves_and_the_server_hears_the_end(page, server, checkpoint_copy):
    open_view(page, server, DEFAULT_MODEL, {})
    slider = lh.map_slider(page, 0)
    box = slider.bounding_box()
    low, high = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    y = box["y"] + box["height"] / 2
    to_x = lambda share: box["x"] + 8 + share * (box["width"] - 16)  # noqa: E731 - Chromium's 16 px thumb
    lh.watch_reruns(page)
    page.mouse.move(to_x(-low / (high - low)), y)  # the thumb, at 0
    page.mouse.down()
    seen = []
    for share in (0.6, 0.7, 0.8, 0.9):
        frames = lh.live(page)["frames"]
        page.mouse.move(to_x(share), y, steps=3)
        state = lh.wait_frame(page, frames)
        assert state["source"] == "slider"
        assert state["pending"][0] == pytest.approx(state["code"][0], abs=1e-5)  # the cross follows the slider
        seen.append(lh.picture(state))
    assert lh.reruns(page) == 0, "moving the slider reran the app"
    assert len({picture.tobytes() for picture in seen}) == len(seen)
    page.mouse.up()
    value = float(slider.input_value())
    # the server keeps the point as float32: within 1e-6 of the slider's value, not always the same double
    page.wait_for_function(f"v => Math.abs({EXPLORE_MAP}.data.live.point[0] - v) < 1e-6", arg=value)
    h.wait_idle(page)
    assert lh.reruns(page) == 1  # only the end was sent
    assert current_point(page)[0] == pytest.approx(value, abs=1e-6)
    assert page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Point:").first.inner_text() \
        .startswith(f"Point: z1 = {value:.3f}")
    code = np.asarray(lh.live(page)["code"], np.float32)
    assert np.abs(seen[-1] - model(str(checkpoint_copy), DEFAULT_MODEL).decode(code[None])[0]).max() < PAGE_TOLERANCE
    assert_no_error(page)


# ---------------------------------------------------------------- Interpolate's scrubber


def test_the_scrubber_morphs_from_a_to_b_in_the_page(page, server, checkpoint_copy, artifacts):
    h.open_app(page, server.url)
    h.open_page_from_menu(page, "Interpolate")
    h.wait_for_scatter(page, h.INTERPOLATE_CHART)
    page.wait_for_function("() => { const r = document.querySelector('.latent-scrubber');"
                           " return r && r.parentElement.__latentScrubber.describe().ready; }")
    ends = page.evaluate("() => document.querySelector('.latent-scrubber').parentElement.__latentScrubber.data")
    z_a, z_b = np.asarray(ends["a"], np.float32), np.asarray(ends["b"], np.float32)
    means = saved_means(str(checkpoint_copy), DEFAULT_MODEL)
    assert z_a.tolist() == means[0].tolist()  # A is test image #0, as the page says
    steps = int(h.slider_value(page, "interp_steps"))
    path, images = model(str(checkpoint_copy), DEFAULT_MODEL).interpolate(z_a, z_b, steps)
    lh.watch_reruns(page)
    scrub_input = page.locator(".latent-scrubber input")
    for k in (0, steps // 2, steps - 1):  # each step of the strip
        page.evaluate("t => { const i = document.querySelector('.latent-scrubber input'); i.value = String(t);"
                      " i.dispatchEvent(new Event('input', {bubbles: true})); }", k / (steps - 1))
        page.wait_for_function("t => Math.abs(document.querySelector('.latent-scrubber').parentElement"
                               ".__latentScrubber.describe().t - t) < 1e-12", arg=k / (steps - 1))
        page.wait_for_timeout(100)  # the frame that draws it
        state = lh.scrubber(page)
        np.testing.assert_allclose(state["code"], path[k], atol=1e-6)
        assert np.abs(np.asarray(state["pixels"]).reshape(images[k].shape) - images[k]).max() < PAGE_TOLERANCE
        spot = page.evaluate("() => document.querySelector('.st-key-interp_scatter .latent-map').parentElement"
                             ".__latentMap.scrub")
        assert spot == pytest.approx(path[k], abs=1e-4)  # a 2-D model's plane is its codes: the spot is on the path
    scrub_input.focus()
    page.keyboard.press("Home")
    lh.drag_locator_thumb(page, scrub_input, 0.25)
    assert 0.15 < lh.scrubber(page)["t"] < 0.35
    assert lh.reruns(page) == 0, "the scrubber reran the app"
    page.screenshot(path=str(artifacts / "e2e-live-scrubber.png"))
    assert_no_error(page)


# ---------------------------------------------------------------- what a click sends


def test_a_click_sends_the_marker_not_the_points(browser, server, checkpoint_copy):
    frames: list[str] = []
    page = h.new_page(browser)
    try:
        page.on("websocket", lambda socket: socket.on(
            "framereceived", lambda payload: frames.append(payload.decode("latin-1") if isinstance(payload, bytes)
                                                           else payload)))
        open_view(page, server, DEFAULT_MODEL, {})
        means = saved_means(str(checkpoint_copy), DEFAULT_MODEL)
        from pages.common.latent_map import encode_floats

        x_text = encode_floats(means[:, 0])[:200]  # the dots' positions as they travel
        assert any(x_text in frame for frame in frames), "the first view did not carry the points"
        token = page.evaluate(f"() => {EXPLORE_MAP}.data.points.token")
        before = len(frames)
        h.timed_plane_click(page, *h.empty_spots(page, 1)[0])
        after = frames[before:]
        assert after and any(token in frame for frame in after)  # the points by name
        assert not any(x_text in frame for frame in after), "a click re-sent the points"
    finally:
        page.context.close()


# ---------------------------------------------------------------- a phone


def test_on_a_phone_the_plane_is_square_the_picture_in_view_and_a_finger_decodes(browser, server, artifacts):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(h.ACTION_TIMEOUT_MS)
    try:
        open_view(page, server, DEFAULT_MODEL, {})
        state = h.map_state(page)
        assert abs(state["width"] - state["height"]) <= 1, (state["width"], state["height"])  # square
        assert state["width"] > 250
        picture = lh.live(page)["picture"]
        assert picture["top"] >= 0 and picture["top"] + picture["height"] <= PHONE["height"], picture  # no scrolling
        assert picture["left"] >= 0 and picture["left"] + picture["width"] <= PHONE["width"], picture
        page.screenshot(path=str(artifacts / "e2e-live-phone.png"))

        tip = h.keyed(page, h.EXPLORE_CHART).locator(".latent-map-tip")
        spots = [h.plane_to_page(page, *spot) for spot in h.empty_spots(page, 4)]
        lh.watch_reruns(page)
        frames = lh.live(page)["frames"]
        lh.touch_drag(page, spots, lift=False)
        moving = lh.wait_frame(page, frames)
        assert moving["source"] == "drag" and moving["dragging"] and tip.is_visible()
        assert lh.reruns(page) == 0
        lh.touch_drag(page, [spots[-1]], lift=True)  # the finger lifts: the point is chosen there
        page.wait_for_function(f"() => !{EXPLORE_MAP}.drag")
        assert tip.is_hidden()
        h.wait_idle(page)
        dot = h.isolated_dots(page, 1)[0]
        page.touchscreen.tap(*(round(v) for v in h.plane_to_page(page, dot["x"], dot["y"])))
        page.get_by_text(f"Test image #{dot['index']} ").wait_for()
        h.wait_idle(page)
        assert tip.is_hidden(), "the tip stayed after a tap"
        assert_no_error(page)
    finally:
        page.screenshot(path=str(artifacts / "e2e-live-phone-after.png"))
        context.close()


# ---------------------------------------------------------------- the component outside Streamlit

MOUNT_JS = """async ([source, mounts]) => {
    const module = await import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})));
    window.sent = [];
    window.maps = mounts.map((data, n) => {
        const parentElement = document.createElement('div');
        parentElement.style.width = '700px';
        document.body.appendChild(parentElement);
        module.default({parentElement, data, setTriggerValue: (event, value) => window.sent.push([n, event, value])});
        return parentElement;
    });
}"""


def test_the_map_runs_outside_streamlit_and_asks_for_what_this_tab_lacks(browser, checkpoint_copy):
    """The entry point a saved web page calls: {parentElement, data, setTriggerValue}; no server behind it."""
    from pages.common import latent_map
    from vae.io.web import export_decoder, lift_payload

    network = load_model(f"{checkpoint_copy}/{DEFAULT_MODEL}.pt")
    means = saved_means(str(checkpoint_copy), DEFAULT_MODEL)
    projection, ranges = plane_of(means, "dims")
    full = latent_map.map_data(projection.to_2d(means), np.arange(len(means)) % 10, [str(d) for d in range(10)],
                                tuple(ranges[0]), tuple(ranges[1]), marker=(0.0, 0.0))
    payload = export_decoder(network).payload()
    full["live"] = {"decoder": payload, "lift": lift_payload(projection, np.zeros(2)), "ranges": ranges.tolist(),
                    "point": [0.0, 0.0], "sliders": None, "caption": None}
    by_name = {**full, "points": {"token": full["points"]["token"], "count": len(means)},
               "live": {**full["live"], "decoder": {"sha256": payload["header"]["sha256"]}}}
    unknown = {**by_name, "points": {"token": "0" * 32, "count": 3},
               "live": {**by_name["live"], "decoder": {"sha256": "f" * 64}}}
    server_decoded = {**by_name, "live": {**by_name["live"], "decoder": None,  # a model the page cannot run
                                          "sliders": {"labels": ["Across (z1)", "Up (z2)"], "title": None}}}
    page = h.new_page(browser)
    try:
        page.set_content("<!doctype html><html><body></body></html>")
        page.add_style_tag(content=(Path(latent_map.__file__).parent / "latent_map.css").read_text())
        page.evaluate(MOUNT_JS, [latent_map.component_js(), [full, by_name, unknown, server_decoded]])
        page.wait_for_function("() => window.maps.every(p => p.__latentMap.describe().drawn > 0)")
        described = page.evaluate("() => window.maps.map(p => p.__latentMap.describe())")
        assert [len(d["index"]) for d in described] == [len(means), len(means), 0, len(means)]  # 2nd, 4th: cached
        assert [d["live"]["ready"] for d in described] == [True, True, False, False]
        assert page.evaluate("() => window.sent") == [[2, "need", {"points": "0" * 32}],
                                                      [2, "need", {"decoder": "f" * 64}]]
        box = page.evaluate("() => window.maps[1].__latentMap.describe()")
        x, y = 0.75 * ranges[0, 0], 0.5 * ranges[1, 1]
        page.mouse.move(round(box["left"] + (x - ranges[0, 0]) / (ranges[0, 1] - ranges[0, 0]) * box["width"]),
                        round(box["top"] + (ranges[1, 1] - y) / (ranges[1, 1] - ranges[1, 0]) * box["height"]))
        page.wait_for_function("() => window.maps[1].__latentMap.describe().live.source === 'hover'")
        state = page.evaluate("() => window.maps[1].__latentMap.describe().live")
        code = np.asarray(state["code"], np.float32)
        assert np.abs(lh.picture(state) - network.decode(code[None])[0]).max() < PAGE_TOLERANCE
        assert code == pytest.approx([state["x"], state["y"]], abs=1e-6)  # a 2-D plane is the codes
        assert page.evaluate("() => window.sent.length") == 2  # hovering sent nothing

        slider = page.locator("input[data-dim='0']")  # without a decoder the sliders still commit: the server decodes
        slider.focus()
        page.keyboard.press("End")
        page.wait_for_function("() => window.sent.length === 3")
        map_number, event, value = page.evaluate("() => window.sent[2]")
        assert (map_number, event) == (3, "slider") and value["z"] == pytest.approx([ranges[0, 1], 0.0], abs=1e-6)
        assert page.evaluate("() => window.maps[3].__latentMap.pending") == pytest.approx([ranges[0, 1], 0.0])
    finally:
        page.context.close()


def test_a_scrubber_whose_decoder_comes_later_with_the_map_gets_ready_by_itself(browser, checkpoint_copy):
    """The decoder travels once a session, with whichever element a run draws first. When the scrubber was drawn
    naming it by sha alone and the map beside it got the weights in a later run, the scrubber's own data did not
    change, so nothing told it: it stayed without a picture (seen once in CI). It now looks again until it has them."""
    from pages.common import latent_map
    from vae.io.web import export_decoder, lift_payload

    network = load_model(f"{checkpoint_copy}/{DEFAULT_MODEL}.pt")
    means = saved_means(str(checkpoint_copy), DEFAULT_MODEL)
    projection, ranges = plane_of(means, "dims")
    payload = export_decoder(network).payload()
    lift = lift_payload(projection)
    scrubber = {"mode": "scrubber", "group": "g", "decoder": {"sha256": payload["header"]["sha256"]},
                "method": "linear", "label": "From A to B", "a": means[0].tolist(), "b": means[1].tolist(),
                "projection": {"mean": lift["mean"], "axes": lift["axes"]}, "picture_pixels": 112}
    full_map = latent_map.map_data(projection.to_2d(means), np.arange(len(means)) % 10, [str(d) for d in range(10)],
                                   tuple(ranges[0]), tuple(ranges[1]), marker=(0.0, 0.0))
    full_map["live"] = {"decoder": payload, "lift": lift_payload(projection, np.zeros(2)), "ranges": ranges.tolist(),
                        "point": [0.0, 0.0], "sliders": None, "caption": None}
    page = h.new_page(browser)
    try:
        page.set_content("<!doctype html><html><body></body></html>")
        page.evaluate("""async ([source, data]) => {
            window.mod = await import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})));
            window.sent = [];
            window.mountOne = (data) => { const parentElement = document.createElement('div');
                parentElement.style.width = '700px'; document.body.appendChild(parentElement);
                window.mod.default({parentElement, data, setTriggerValue: (e, v) => window.sent.push([e, v])});
                return parentElement; };
            window.scrubberElement = window.mountOne(data);
        }""", [latent_map.component_js(), scrubber])
        page.wait_for_function("() => window.sent.length === 1")  # it asked for the weights it lacks
        assert page.evaluate("() => window.sent") == [["need", {"decoder": payload["header"]["sha256"]}]]
        assert not page.evaluate("() => window.scrubberElement.__latentScrubber.describe().ready")
        page.evaluate("data => { window.mountOne(data); }", full_map)  # the map beside it brings them, later
        page.wait_for_function("() => window.scrubberElement.__latentScrubber.describe().ready",
                               timeout=h.ACTION_TIMEOUT_MS)
        state = page.evaluate("() => window.scrubberElement.__latentScrubber.describe()")
        assert np.abs(np.asarray(state["pixels"]) - network.decode(np.asarray([state["code"]], np.float32))[0].ravel()
                      ).max() < PAGE_TOLERANCE
        assert len(page.evaluate("() => window.sent")) == 1  # it asked once, then waited
    finally:
        page.context.close()
