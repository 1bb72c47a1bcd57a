"""The app in a real browser: `streamlit run app.py` driven through headless Chromium, as a new user would.

One Streamlit server for the whole module, on a free port, reading a copy of the bundled checkpoints
(checkpoints/ is never touched); the tests of the first seconds after a start get a fresh, slowed server each. Every test opens its own browser context, i.e. its own Streamlit
session. Screenshots of every step go to tests/artifacts/; the timings the tests see go to
tests/artifacts/e2e_timings.json (benchmarks/app_speed.py measures them properly; never asserted).
Locally these tests skip without Chromium or playwright; in CI (CI=true) they fail instead.
"""
from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from benchmarks import browser_harness as h

pytestmark = pytest.mark.e2e

BUNDLED = h.ROOT / "checkpoints"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # screenshots and timings of the last run (git-ignored)
DEFAULT_MODEL = "mnist5k-conv-2d"  # pages/common/model_access.py DEFAULT_MODEL: the model a new user sees
DOWNLOAD_LONG_SIDE = 1024  # vae/images.py: a downloaded picture is at least this long, enlarged by a whole factor
STRIP_DOWNLOAD_SCALE = 4  # pages/interpolate.py show_strip: the PNG download enlarges each pixel 4x
STRIP_PADDING = 1  # pages/interpolate.py show_strip: vae.images.tile(..., padding=1) between the steps
TRAIN_TIMEOUT_MS = 240_000  # a 1-epoch digits run, on a busy 2-core machine
SUGGESTED_DIGITS_NAME = re.compile(r"^digits-classic-mlp(-\d+)?$")  # the Train page's suggestion for digits
SLOW_FIRST_IMPORT_S = 6.0  # a fresh server's first run waits this long in `import vae`: a busy machine's first seconds
APP_MENU = ["Start", "Latent space", "Interpolate", "Generate", "Reconstructions", "Train", "Models"]
# How Streamlit's pages-folder mode would title the helper modules of pages/ (and pages/common/) if it listed them.
HELPER_TITLES = {path.stem.strip("_").replace("_", " ") for path in (h.ROOT / "pages" / "common").glob("*.py")} | {
    "common", "history"}


def running_in_ci() -> bool:
    """True on a CI machine (CI=true, as GitHub Actions and most others set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_browser() -> None:
    """Skip without playwright or Chromium, except in CI, where the tests must run: fail with the reason."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install playwright)")
    if h.chromium_path() is None:
        missing.append(f"Chromium at {h.CHROMIUM} (apt-get install chromium; never `playwright install`)")
    if not missing:
        return
    message = "The real-browser tests need " + " and ".join(missing) + "."
    if running_in_ci():
        pytest.fail(message + " CI=true: they must run here, not be skipped (.ci/run installs both).", pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser_ready() -> None:
    """Skip (locally) or fail (in CI) first, before any set-up work."""
    require_browser()


@pytest.fixture(scope="module")
def checkpoint_copy(browser_ready, tmp_path_factory) -> Path:
    """A temporary folder holding copies of the bundled checkpoints and their saved codes (tests may add files)."""
    bundled = sorted([*BUNDLED.glob("*.pt"), *BUNDLED.glob("*.codes.npz")])
    if not (BUNDLED / f"{DEFAULT_MODEL}.pt").is_file():
        pytest.fail(f"The bundled {DEFAULT_MODEL}.pt is missing from {BUNDLED}: run `bash checkpoints/rebuild.sh`.",
                    pytrace=False)
    folder = tmp_path_factory.mktemp("e2e-checkpoints")
    for path in bundled:
        shutil.copy2(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """tests/artifacts/ (ignored by git): screenshots, the server log and the timings."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def timings(artifacts):
    """Figures the tests happen to see; written to e2e_timings.json at the end, never asserted."""
    seen: dict = {}
    yield seen
    (artifacts / "e2e_timings.json").write_text(json.dumps(seen, indent=2) + "\n")


@pytest.fixture(scope="module")
def server(browser_ready, checkpoint_copy, artifacts, tmp_path_factory):
    """One `streamlit run app.py` for the module, on a free port; its whole process group is killed at the end.

    Its output is copied to tests/artifacts/e2e-streamlit.log at the end.
    """
    log = tmp_path_factory.mktemp("e2e-server") / "streamlit.log"
    running = h.start_server(checkpoint_copy, log)
    try:
        h.wait_healthy(running)
        yield running
    finally:
        h.stop_server(running)
        shutil.copy2(log, artifacts / "e2e-streamlit.log")


@pytest.fixture(scope="module")
def browser(server):
    """Headless Debian Chromium (module-wide; each test gets its own context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = h.launch_browser(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, artifacts, request):
    """A fresh page in a fresh browser context: a new user with a new Streamlit session.

    Its last state is saved as last-<test>.png, which is what explains a failure.
    """
    opened = h.new_page(browser)
    yield opened
    try:
        opened.screenshot(path=str(artifacts / f"last-{request.node.name}.png"), timeout=10_000)
    finally:
        opened.context.close()


def open_explorer(page, server) -> None:
    """Open the app's start URL and wait for the latent scatter and the decoded image."""
    h.open_app(page, server.url)
    h.wait_for_scatter(page)
    h.wait_decoded_shown(page)


def assert_no_exception(page) -> None:
    """No Streamlit traceback box on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator('[data-testid="stException"]').all_inner_texts()


def assert_no_error(page) -> None:
    """Neither a traceback nor an st.error message."""
    assert_no_exception(page)
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.all_inner_texts()


def model_in_use(page) -> str:
    """The model the sidebar says every page uses."""
    return h.keyed(page, h.SIDEBAR_MODEL).get_by_role("combobox").input_value()


def pixel_size(page) -> float:
    """The larger of the plane distances one screen pixel spans across and up the Latent space map."""
    state = h.map_state(page)
    return max((state["x_range"][1] - state["x_range"][0]) / state["width"],
               (state["y_range"][1] - state["y_range"][0]) / state["height"])


def legend_item(page, label: int):
    """The map's legend button of class ``label`` (its aria-pressed is "false" while the class is hidden)."""
    return h.keyed(page, h.EXPLORE_CHART).locator(f'button.latent-map-legend-item[data-label="{label}"]')


def class_pill(page, name: str):
    """The "Classes shown" pill of the class called ``name`` (aria-pressed "true" while it is shown)."""
    return h.keyed(page, "explore_classes").get_by_role("button", name=name, exact=True)


def wait_hidden(page, hidden: list[int]) -> None:
    """Wait until the map has been redrawn with exactly the classes ``hidden`` left out."""
    page.wait_for_function(
        """hidden => {
            const root = document.querySelector('.st-key-explore_scatter .latent-map');
            const map = root && root.parentElement.__latentMap;
            if (!map || !map.data) return false;
            const now = map.describe().hidden.slice().sort((a, b) => a - b);
            return JSON.stringify(now) === JSON.stringify(hidden);
        }""",
        arg=sorted(hidden), timeout=h.ACTION_TIMEOUT_MS,
    )


def shows_point_text(page) -> str:
    """The "Point: z1 = ..." line under the decoded image."""
    return page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Point:").first.inner_text()


# ---------------------------------------------------------------- the steps of a new user


# Notes, in page time, when the map (a canvas component) is first drawn and when the first decoded image first shows.
RECORD_FIRST_DRAWS_JS = """
window.__firstDraws = {};
const note = () => {
  const root = document.querySelector('.st-key-explore_scatter .latent-map');
  const canvas = root && root.querySelector('canvas');
  if (canvas && Number(root.dataset.drawn || 0) > 0 && canvas.getBoundingClientRect().width > 0
      && !('map' in window.__firstDraws))
    window.__firstDraws.map = performance.now();
  if (document.querySelector('[data-testid="stImage"] img') && !('picture' in window.__firstDraws))
    window.__firstDraws.picture = performance.now();
  if (!('map' in window.__firstDraws) || !('picture' in window.__firstDraws)) requestAnimationFrame(note);
};
requestAnimationFrame(note);
"""


def test_opening_the_app_shows_the_bundled_models_scatter(page, server, artifacts, timings):
    page.add_init_script(RECORD_FIRST_DRAWS_JS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    started = time.perf_counter()
    page.goto(server.url, wait_until="domcontentloaded", timeout=h.PAGE_TIMEOUT_MS)
    h.wait_for_scatter(page)
    timings["first_chart_s_since_server_spawn"] = round(time.perf_counter() - server.spawned_at, 3)
    timings["first_chart_s_since_page_open"] = round(time.perf_counter() - started, 3)
    h.wait_idle(page, h.PAGE_TIMEOUT_MS)
    h.wait_decoded_shown(page)

    # The server's first view: the map comes from the saved codes before the model (and torch) loads.
    first = page.evaluate("window.__firstDraws")
    assert first["map"] <= first["picture"], first
    assert page.get_by_text("Loading the model").count() == 0  # the placeholder made way for the picture

    assert page.get_by_role("heading", name="Latent space").is_visible()
    assert model_in_use(page) == DEFAULT_MODEL
    # The map is the canvas component (no plotly on this page), every class shown in its legend.
    assert h.map_kind(page) == "canvas"
    assert h.keyed(page, h.EXPLORE_CHART).locator(".js-plotly-plot").count() == 0
    legend = h.keyed(page, h.EXPLORE_CHART).locator("button.latent-map-legend-item")
    assert legend.all_inner_texts() == [str(digit) for digit in range(10)]
    assert [legend.nth(i).get_attribute("aria-pressed") for i in range(10)] == ["true"] * 10
    state = h.map_state(page)
    assert state["hidden"] == [] and state["drawn"] >= 1
    assert sorted(state["index"]) == list(range(1000))  # dot i is test image i, each once
    assert [trace["name"] for trace in h.scatter_traces(page)] == [str(digit) for digit in range(10)]
    assert h.data_point_count(page) == 1000  # mnist-5k's test set
    assert state["marker"] == pytest.approx([0.0, 0.0], abs=1e-6)  # the cross at the starting point, the centre
    assert_no_error(page)
    page.screenshot(path=str(artifacts / "e2e-1-scatter.png"))

    # Offline: nothing was fetched from outside this server, and the tab icon is the app's own (inline).
    assert [url for url in requested if not url.startswith((server.url, "data:", "blob:"))] == []
    favicon = page.evaluate("() => document.querySelector(\"link[rel='shortcut icon']\").href")
    assert favicon.startswith("data:image/svg+xml"), favicon[:80]


def test_clicking_empty_space_then_a_dot_decodes_each(page, server, artifacts, timings):
    open_explorer(page, server)
    first_src = h.decoded_src(page)
    empty = h.empty_spots(page, 1)
    dots = h.isolated_dots(page, 1)
    assert empty and dots, "no empty spot or no clickable dot found on the plane"

    first_png = h.image_bytes(page, first_src)  # fetched now: the server forgets a picture once it is replaced
    latency_empty = h.timed_plane_click(page, *empty[0])
    empty_png = h.image_bytes(page, h.decoded_src(page))
    assert "Test image #" not in page.locator('[data-testid="stMain"]').inner_text()
    x, y = (float(v.split("=")[1]) for v in shows_point_text(page).split(":")[1].split(","))
    # The exact plane point under the mouse (no click grid): off by the rounding to a whole pixel at most.
    near = pixel_size(page) + 1e-3
    assert (x, y) == pytest.approx(empty[0], abs=near)
    assert h.map_state(page)["marker"] == pytest.approx([x, y], abs=near)  # the cross moved there
    page.screenshot(path=str(artifacts / "e2e-2a-empty-click.png"))

    dot = dots[0]
    latency_dot = h.timed_plane_click(page, dot["x"], dot["y"])
    dot_png = h.image_bytes(page, h.decoded_src(page))
    page.get_by_text(f"Test image #{dot['index']} ").wait_for()
    page.screenshot(path=str(artifacts / "e2e-2b-dot-click.png"))

    assert all(Image.open(io.BytesIO(picture)).size[0] >= 28 for picture in (first_png, empty_png, dot_png))
    assert first_png != empty_png, "the decoded image did not change on the click on empty space"
    assert empty_png != dot_png, "the decoded image did not change on the click on a dot"
    assert_no_error(page)
    timings["click_to_image_ms"] = {"empty_spot": round(latency_empty, 1), "dot": round(latency_dot, 1)}


def test_moving_a_latent_slider_changes_the_image(page, server, artifacts, timings):
    open_explorer(page, server)
    moves = {}
    for key_name in ("PageUp", "Home", "End"):  # a tenth of the range, then both ends of it
        before_value, before_src = h.slider_value(page, "explore_z_0"), h.decoded_src(page)
        moves[key_name] = round(h.timed_slider_move(page, "explore_z_0", key_name), 1)
        assert h.slider_value(page, "explore_z_0") != before_value
        assert h.decoded_src(page) != before_src
        assert_no_error(page)  # at an end of the range the slider once broke (float32 below its minimum)
    low = float(h.slider_thumb(page, "explore_z_0").get_attribute("min"))
    high = float(h.slider_thumb(page, "explore_z_0").get_attribute("max"))
    assert h.slider_value(page, "explore_z_0") == pytest.approx(high)
    assert shows_point_text(page).startswith(f"Point: z1 = {high:.3f}")
    assert low < 0 < high
    page.screenshot(path=str(artifacts / "e2e-3-slider.png"))
    timings["slider_to_image_ms"] = moves


def test_a_legend_click_hides_a_class_until_it_is_clicked_again(page, server, artifacts):
    from playwright.sync_api import expect

    open_explorer(page, server)
    label = 3
    before = h.map_state(page)
    members = sum(1 for dot_label in before["label"] if dot_label == label)
    assert members > 0 and before["hidden"] == []
    expect(class_pill(page, str(label))).to_have_attribute("aria-pressed", "true")

    h.wait_idle(page)
    legend_item(page, label).click()
    wait_hidden(page, [label])
    h.wait_idle(page)
    state = h.map_state(page)
    assert label not in state["label"], "the hidden class's dots are still on the map"
    assert len(state["index"]) == h.data_point_count(page) == len(before["index"]) - members
    expect(legend_item(page, label)).to_have_attribute("aria-pressed", "false")
    expect(class_pill(page, str(label))).to_have_attribute("aria-pressed", "false")  # the chips follow
    expect(class_pill(page, str(label + 1))).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(artifacts / "e2e-3b-legend-hidden.png"))

    # For good: a click on the plane (a redraw from the server) keeps it hidden.
    spot = h.empty_spots(page, 1)[0]
    h.timed_plane_click(page, *spot)
    state = h.map_state(page)
    assert state["hidden"] == [label] and label not in state["label"]
    assert state["marker"] == pytest.approx(spot, abs=pixel_size(page) + 1e-3)

    h.wait_idle(page)
    legend_item(page, label).click()
    wait_hidden(page, [])
    h.wait_idle(page)
    assert h.data_point_count(page) == len(before["index"])
    assert label in h.map_state(page)["label"]
    expect(legend_item(page, label)).to_have_attribute("aria-pressed", "true")
    expect(class_pill(page, str(label))).to_have_attribute("aria-pressed", "true")
    assert_no_error(page)


def test_hovering_a_dot_names_its_test_image(page, server, artifacts):
    from playwright.sync_api import expect

    open_explorer(page, server)
    dot = h.isolated_dots(page, 1)[0]
    tip = h.keyed(page, h.EXPLORE_CHART).locator(".latent-map-tip")
    expect(tip).to_be_hidden()
    px, py = h.plane_to_page(page, dot["x"], dot["y"])
    page.mouse.move(round(px), round(py))  # the same whole pixel a click would land on
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(re.compile(rf"^Image #{dot['index']} .*Class: {dot['label']}$"))
    page.screenshot(path=str(artifacts / "e2e-3c-hover-dot.png"))

    spot = h.empty_spots(page, 1)[0]  # over empty space it offers the plane point instead
    page.mouse.move(*(round(v) for v in h.plane_to_page(page, *spot)))
    expect(tip).to_contain_text("click to decode")
    expect(tip).not_to_contain_text("Image #")


def test_interpolation_strip_between_two_points_downloads_as_png(page, server, artifacts, tmp_path):
    h.open_app(page, server.url)
    h.wait_for_scatter(page)
    h.open_page_from_menu(page, "Interpolate")
    h.wait_for_scatter(page, h.INTERPOLATE_CHART)
    ends_text = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="(orange)").first
    spots = h.empty_spots(page, 2, h.INTERPOLATE_CHART)
    assert len(spots) == 2
    for spot in spots:  # the first click sets A, the second B
        h.wait_idle(page)
        before = ends_text.inner_text()
        h.click_plane(page, *spot, chart_key=h.INTERPOLATE_CHART)
        page.wait_for_function("([el, old]) => el.innerText !== old", arg=[ends_text.element_handle(), before])
        h.wait_idle(page)
    ends = ends_text.inner_text()
    assert ends.count("a point on the map") == 2, ends
    page.screenshot(path=str(artifacts / "e2e-4-interpolation.png"))

    steps = int(h.slider_value(page, "interp_steps"))
    with page.expect_download() as download_info:
        h.keyed(page, "interp_download_png").get_by_role("button").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.name == f"{DEFAULT_MODEL}-interpolation.png"
    with Image.open(saved) as strip:
        assert strip.format == "PNG"
        strip.load()  # decodes every row: a truncated file fails here
        side = 28  # mnist-5k images are 28 x 28
        width = steps * (side + STRIP_PADDING) - STRIP_PADDING
        scale = math.ceil(DOWNLOAD_LONG_SIDE / width)  # the smallest whole factor that reaches 1024 px
        assert strip.size == (scale * width, scale * side)
    shown = h.keyed(page, "interp_download_png").locator(  # the strip on the page, above its download buttons
        "xpath=preceding::*[@data-testid='stImage'][1]//img")
    natural, drawn = shown.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
    assert natural % width == 0 and drawn == natural, (natural, drawn)  # whole pixels, drawn 1:1 by the browser
    assert_no_error(page)


def test_training_a_tiny_model_then_exploring_it(page, server, artifacts, timings):
    h.open_app(page, server.url)
    h.open_page_from_menu(page, "Train")
    h.choose_option(page, "train_dataset", "digits:")
    name_input = h.keyed(page, "train_name").locator("input")
    expect_value(name_input, SUGGESTED_DIGITS_NAME)
    name = name_input.input_value()  # digits-classic-mlp, or -2, -3... when that name is taken
    set_number(page, "train_epochs", 1)
    page.evaluate(_RECORD_PROGRESS_JS)

    started = time.perf_counter()
    h.wait_idle(page)
    h.keyed(page, "train_start").get_by_role("button").click()
    page.get_by_text("Training finished after 1 epochs").wait_for(timeout=TRAIN_TIMEOUT_MS)
    timings["train_digits_1_epoch_s"] = round(time.perf_counter() - started, 3)
    h.wait_idle(page)
    bar = page.locator('[data-testid="stProgress"] [role="progressbar"]')
    assert bar.get_attribute("aria-valuenow") == "100"
    timings["progress_values_seen"] = page.evaluate("() => window.__progressSeen")
    assert f"Saved as {name}." in page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    assert_no_error(page)
    page.screenshot(path=str(artifacts / "e2e-5a-trained.png"))

    h.open_page_from_menu(page, "Latent space")
    h.wait_for_scatter(page)
    h.choose_option(page, h.SIDEBAR_MODEL, re.compile(f"^{re.escape(name)}$"))
    h.wait_for_point_count(page, digits_test_count())  # the new model's own test images
    h.wait_idle(page)
    assert model_in_use(page) == name
    assert page.get_by_text("Data: digits").is_visible()
    h.wait_decoded_shown(page)
    assert_no_error(page)
    page.screenshot(path=str(artifacts / "e2e-5b-new-model-scatter.png"))


def test_a_corrupt_checkpoint_upload_shows_an_error_and_the_app_keeps_working(page, server, artifacts,
                                                                               checkpoint_copy):
    before = sorted(path.name for path in checkpoint_copy.iterdir())
    h.open_app(page, server.url)
    h.open_page_from_menu(page, "Models")
    assert model_in_use(page) == DEFAULT_MODEL, f"a new session starts on {model_in_use(page)}"
    page.locator(f".st-key-{h.UPLOAD_KEY} input[type=file]").set_input_files(files=[{
        "name": "broken.pt", "mimeType": "application/octet-stream",
        "buffer": b"PK\x03\x04 this is not a PyTorch checkpoint " * 64,
    }])
    error = page.locator('[data-testid="stAlertContentError"]').first  # said at once: no button to press
    error.wait_for()
    h.wait_idle(page)
    message = error.inner_text()
    assert "broken.pt" in message and "corrupt" in message, message
    assert "Traceback" not in message
    assert_no_exception(page)
    page.screenshot(path=str(artifacts / "e2e-6a-corrupt-upload.png"))
    assert sorted(path.name for path in checkpoint_copy.iterdir()) == before  # nothing was saved
    assert model_in_use(page) == DEFAULT_MODEL, f"the failed upload switched the model to {model_in_use(page)}"

    h.open_page_from_menu(page, "Latent space")
    h.wait_for_scatter(page)
    assert model_in_use(page) == DEFAULT_MODEL, f"the model in use changed to {model_in_use(page)}"
    h.wait_for_point_count(page, 1000)
    h.wait_decoded_shown(page)
    assert_no_error(page)
    page.screenshot(path=str(artifacts / "e2e-6b-still-working.png"))


def test_a_foreign_state_dict_is_imported_through_the_form_with_its_dataset(page, server, artifacts, checkpoint_copy):
    """Issue 14: the Fashion-MNIST tutorial's fc1, fc2m, fc2s, fc3, fc4 weights, named as trained on mnist-5k."""
    import torch

    import vae
    from conftest import FashionVAE

    torch.manual_seed(0)
    weights = io.BytesIO()
    torch.save(FashionVAE().state_dict(), weights)
    h.open_app(page, server.url)
    h.open_page_from_menu(page, "Models")
    page.locator(f".st-key-{h.UPLOAD_KEY} input[type=file]").set_input_files(files=[{
        "name": "e2e fashion vae.pt", "mimeType": "application/octet-stream", "buffer": weights.getvalue()}])
    confirm = h.keyed(page, "import_confirm").get_by_role("button")
    confirm.wait_for(timeout=h.PAGE_TIMEOUT_MS)
    h.wait_idle(page)
    chosen = {key: h.keyed(page, key).get_by_role("combobox").input_value()
              for key in ("import_heads", "import_spread")}
    assert chosen["import_heads"] == "means: fc2m, spreads: fc2s", chosen  # the detected answers, preselected
    assert chosen["import_spread"].startswith("log-variance"), chosen
    page.screenshot(path=str(artifacts / "e2e-6c-import-form.png"))
    h.choose_option(page, "import_dataset", re.compile(r"^mnist-5k:"))
    confirm.click()
    success = page.locator('[data-testid="stAlertContentSuccess"]').first
    success.wait_for(timeout=h.PAGE_TIMEOUT_MS)
    h.wait_idle(page)
    assert "Imported e2e-fashion-vae" in success.inner_text(), success.inner_text()
    assert_no_exception(page)
    assert model_in_use(page) == "e2e-fashion-vae"
    saved = vae.read_checkpoint(checkpoint_copy / "e2e-fashion-vae.pt")
    assert saved["dataset"] == "mnist-5k" and saved["class_names"] == [str(digit) for digit in range(10)]

    h.open_page_from_menu(page, "Latent space")
    h.wait_for_point_count(page, 1000)  # mnist-5k's test images, encoded by the imported model
    assert_no_error(page)
    page.screenshot(path=str(artifacts / "e2e-6d-imported-model-map.png"))


def test_several_sessions_are_isolated(browser, server, artifacts):
    """Two users at once: neither sees the other's clicked point nor the other's training run."""
    explorer, trainer = h.new_page(browser), h.new_page(browser)
    try:
        open_explorer(explorer, server)
        dot = h.isolated_dots(explorer, 1)[0]
        h.timed_plane_click(explorer, dot["x"], dot["y"])
        explorer.get_by_text(f"Test image #{dot['index']} ").wait_for()

        h.open_app(trainer, server.url)
        h.open_page_from_menu(trainer, "Train")
        h.choose_option(trainer, "train_dataset", "digits:")
        expect_value(h.keyed(trainer, "train_name").locator("input"), SUGGESTED_DIGITS_NAME)
        h.keyed(trainer, "train_name").locator("input").fill("isolation-check")
        h.keyed(trainer, "train_name").locator("input").press("Enter")
        expect_value(h.keyed(trainer, "train_name").locator("input"), "isolation-check")
        set_number(trainer, "train_epochs", 500)  # long enough to be running while the other user looks
        h.wait_idle(trainer)
        h.keyed(trainer, "train_start").get_by_role("button").click()
        stop = h.keyed(trainer, "train_stop").get_by_role("button")
        stop.wait_for(timeout=TRAIN_TIMEOUT_MS)

        # The explorer's own point is still its own; a third look from a new session sees the default.
        assert f"Test image #{dot['index']} " in explorer.locator('[data-testid="stMain"]').inner_text()
        newcomer = h.new_page(browser)
        try:
            open_explorer(newcomer, server)
            assert shows_point_text(newcomer) == "Point: z1 = 0.000, z2 = 0.000"
            assert "Test image #" not in newcomer.locator('[data-testid="stMain"]').inner_text()
            assert "z=" not in newcomer.url
            h.open_page_from_menu(newcomer, "Train")
            h.keyed(newcomer, "train_start").get_by_role("button").wait_for()
            assert newcomer.locator('[data-testid="stProgress"]').count() == 0
            assert h.keyed(newcomer, "train_stop").count() == 0
            assert "Training finished" not in newcomer.locator('[data-testid="stMain"]').inner_text()
            newcomer.screenshot(path=str(artifacts / "e2e-7-isolated-newcomer.png"))
        finally:
            newcomer.context.close()

        # Positive control: the trainer does see its own run (still going, or its outcome).
        main = trainer.locator('[data-testid="stMain"]')
        assert h.keyed(trainer, "train_stop").count() == 1 or "isolation-check" in main.inner_text()
        assert trainer.locator('[data-testid="stProgress"]').count() >= 1
        trainer.screenshot(path=str(artifacts / "e2e-7-isolated-trainer.png"))
    finally:
        stop_training(trainer)
        explorer.context.close()
        trainer.context.close()


def test_a_reload_during_training_keeps_the_run_in_view(page, server, artifacts):
    """Reloading the Train page starts a new session: the link (?job=...) brings back the run, its Stop included."""
    try:
        h.open_app(page, server.url)
        h.open_page_from_menu(page, "Train")
        h.choose_option(page, "train_dataset", "digits:")
        expect_value(h.keyed(page, "train_name").locator("input"), SUGGESTED_DIGITS_NAME)
        h.keyed(page, "train_name").locator("input").fill("reload-check")
        h.keyed(page, "train_name").locator("input").press("Enter")
        expect_value(h.keyed(page, "train_name").locator("input"), "reload-check")
        set_number(page, "train_epochs", 500)  # still running at the reload; Stop ends it
        h.keyed(page, "train_start").get_by_role("button").click()
        h.keyed(page, "train_stop").get_by_role("button").wait_for(timeout=TRAIN_TIMEOUT_MS)
        page.wait_for_url(re.compile(r"[?&]job=[0-9a-f]{32}"), timeout=h.ACTION_TIMEOUT_MS)
        link = page.url

        page.reload(wait_until="domcontentloaded", timeout=h.PAGE_TIMEOUT_MS)
        page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=h.PAGE_TIMEOUT_MS)
        assert page.url == link
        stop = h.keyed(page, "train_stop").get_by_role("button")
        stop.wait_for(timeout=h.PAGE_TIMEOUT_MS)
        # the bar is drawn in the same fragment as Stop; under load the browser may show Stop a frame earlier
        page.locator('[data-testid="stProgress"]').first.wait_for(timeout=h.PAGE_TIMEOUT_MS)
        assert h.keyed(page, "train_start").get_by_role("button").is_disabled()
        page.wait_for_function(  # the run goes on in view: the bar moves and the batch curves are drawn
            """() => Number(document.querySelector('[data-testid="stProgress"] [role="progressbar"]')
                    ?.getAttribute('aria-valuenow') || 0) > 0""", timeout=TRAIN_TIMEOUT_MS)
        h.keyed(page, "train_batch_curves").wait_for(timeout=TRAIN_TIMEOUT_MS)
        page.screenshot(path=str(artifacts / "e2e-8a-reloaded-during-training.png"))

        h.wait_idle(page)
        stop.click()
        page.get_by_text("Training was stopped").first.wait_for(timeout=TRAIN_TIMEOUT_MS)
        h.wait_idle(page)
        assert h.keyed(page, "train_stop").count() == 0
        assert h.keyed(page, "train_start").get_by_role("button").is_enabled()
        assert_no_exception(page)
        page.screenshot(path=str(artifacts / "e2e-8b-stopped-after-reload.png"))
    finally:
        stop_training(page)
# ---------------------------------------------------------------- the first seconds after a start, Back and Forward


@pytest.fixture
def slow_server(browser_ready, checkpoint_copy, artifacts, tmp_path, request):
    """A fresh `streamlit run app.py` (for this test alone) whose first script run is slowed down.

    Pages-folder mode lasts only until a run of the process reaches app.py's navigation, so each
    test of the first seconds needs a server of its own. The log goes to tests/artifacts/.
    """
    log = tmp_path / "streamlit.log"
    running = h.start_server(checkpoint_copy, log, slow_first_import_s=SLOW_FIRST_IMPORT_S)
    try:
        h.wait_healthy(running)
        yield running
    finally:
        h.stop_server(running)
        shutil.copy2(log, artifacts / f"e2e-{request.node.name}.log")


def open_while_starting(browser, server, path: str):
    """A new user opens ``path`` on a server whose first run is still going; every menu shown is recorded."""
    page = h.new_page(browser)
    page.add_init_script(h.RECORD_MENUS_JS)
    page.goto(server.url + path, wait_until="domcontentloaded", timeout=h.PAGE_TIMEOUT_MS)
    return page


def click_menu_at_once_and_expect(page, url_path: str, heading: str) -> None:
    """Click the menu's link to ``/url_path`` as soon as the menu shows, then wait for the page or a traceback."""
    h.menu_link(page, url_path).click()
    outcome = page.locator(f'[data-testid="stException"], [data-testid="stMain"] h1:has-text("{heading}")')
    outcome.first.wait_for(timeout=h.PAGE_TIMEOUT_MS)
    h.wait_idle(page, h.PAGE_TIMEOUT_MS)
    assert_no_exception(page)
    expect_heading(page, heading)
    assert page.url.split("?")[0].endswith(f"/{url_path}"), page.url


def assert_only_pages_were_listed(page) -> None:
    """No menu shown since the page opened named a helper module; the menu now is the app's own."""
    seen = h.menus_seen(page)
    assert seen, "no sidebar menu was seen"
    assert not {label.lower() for menu in seen for label in menu} & HELPER_TITLES, seen
    assert h.menu_labels(page) == APP_MENU
    assert h.keyed(page, h.SIDEBAR_MODEL).count() == 1  # app.py's model sidebar: the app ran the page


def test_a_menu_click_while_the_first_run_is_slow_opens_the_page(browser, slow_server, artifacts):
    page = open_while_starting(browser, slow_server, "")
    try:
        click_menu_at_once_and_expect(page, "interpolate", "Interpolate")
        h.wait_for_scatter(page, h.INTERPOLATE_CHART)
        assert_only_pages_were_listed(page)
        assert_no_error(page)
    finally:
        page.screenshot(path=str(artifacts / "e2e-8a-first-click.png"))
        page.context.close()


def test_a_link_to_a_page_as_the_first_visit_then_a_menu_click_at_once(browser, slow_server, artifacts):
    page = open_while_starting(browser, slow_server, "interpolate")
    try:
        click_menu_at_once_and_expect(page, "generate", "Generate new pictures")
        assert_only_pages_were_listed(page)
        h.open_app(page, slow_server.url + "interpolate")  # the same link again, now that the app is up
        expect_heading(page, "Interpolate")
        assert h.menu_labels(page) == APP_MENU
        assert_no_exception(page)
    finally:
        page.screenshot(path=str(artifacts / "e2e-8b-first-link.png"))
        page.context.close()


def test_back_and_forward_move_between_pages_on_the_first_press(page, server, artifacts):
    h.open_app(page, server.url)
    h.wait_for_scatter(page)
    h.open_page_from_menu(page, "Interpolate")
    h.wait_for_scatter(page, h.INTERPOLATE_CHART)
    press(page, "back", "Latent space")
    h.wait_for_scatter(page)
    press(page, "forward", "Interpolate")
    h.open_page_from_menu(page, "Generate")
    h.open_page_from_menu(page, "Interpolate")
    for button, heading in (("back", "Generate new pictures"), ("back", "Interpolate"), ("back", "Latent space"),
                            ("forward", "Interpolate"), ("forward", "Generate new pictures")):
        press(page, button, heading)  # history: Latent space, Interpolate, Generate, Interpolate
    assert_no_error(page)
    page.screenshot(path=str(artifacts / "e2e-9-back-forward.png"))


def press(page, button: str, heading: str) -> None:
    """Press the browser's Back or Forward button once; the page called ``heading`` must come and stay."""
    h.wait_idle(page)
    (page.go_back if button == "back" else page.go_forward)(wait_until="commit")
    expect_heading(page, heading)
    h.wait_idle(page)
    expect_heading(page, heading)  # still there once the rerun that Back started has finished


def expect_heading(page, heading: str) -> None:
    """Wait until the main area's title is ``heading``."""
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stMain"] h1').first).to_have_text(heading, timeout=h.ACTION_TIMEOUT_MS)


# ---------------------------------------------------------------- small helpers

_RECORD_PROGRESS_JS = """() => {
    window.__progressSeen = [];
    const record = () => document.querySelectorAll('[data-testid="stProgress"] [role="progressbar"]').forEach(bar => {
        const value = Number(bar.getAttribute('aria-valuenow'));
        const seen = window.__progressSeen;
        if (seen[seen.length - 1] !== value) seen.push(value);
    });
    new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def expect_value(locator, value: str | re.Pattern) -> None:
    """Wait until an input shows ``value`` (the rerun that sets it has reached the page)."""
    from playwright.sync_api import expect

    expect(locator).to_have_value(value, timeout=h.ACTION_TIMEOUT_MS)


def set_number(page, key: str, value: int) -> None:
    """Type a number into the number input with ``key=`` and commit it with Enter."""
    h.wait_idle(page)
    field = h.keyed(page, key).locator("input")
    field.fill(str(value))
    field.press("Enter")
    expect_value(field, str(value))
    h.wait_idle(page)


def stop_training(page) -> None:
    """Press Stop if this page's run is still going, and wait until it has ended (frees the CPU)."""
    stop = h.keyed(page, "train_stop").get_by_role("button")
    if page.is_closed() or stop.count() == 0:
        return
    stop.click()
    stop.wait_for(state="detached", timeout=h.ACTION_TIMEOUT_MS)


def digits_test_count() -> int:
    """How many test images the offline digits set has (the new model's scatter shows them all)."""
    from vae.data import load_dataset

    return len(load_dataset("digits").test_images)
