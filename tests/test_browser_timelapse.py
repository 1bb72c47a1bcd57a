"""The Latent space page's training time-lapse in a real browser: play and the slider change the drawn epoch in the
page itself, with no Streamlit rerun. One server for the module (tests/test_browser.py's fixtures) reading a folder
with one small digits model that has a time-lapse.
"""
from __future__ import annotations

import pytest
from PIL import Image

from benchmarks import browser_harness as h
from conftest import DIGITS, write_growing_timelapse
from test_browser import artifacts, browser, browser_ready, page, server  # noqa: F401
from vae.config import ModelConfig
from vae.models import build_model

pytestmark = pytest.mark.e2e

MODEL = "digits-timelapse"
EPOCHS = [1, 2, 3, 5, 8, 13]
PLAYER = ".st-key-explore_timelapse"  # pages/common/timelapse_view.py PLAYER_KEY
PLAYER_JS = f"document.querySelector('{PLAYER} .timelapse-player').parentElement.__timelapsePlayer"
WATCH_RERUNS = """() => {  // count the runs the app starts from now on: the stApp's script state turning "running"
  const app = document.querySelector('[data-testid="stApp"]');
  window.__reruns = 0;
  new MutationObserver(() => { if (app.getAttribute('data-test-script-state') === 'running') window.__reruns++; })
    .observe(app, { attributes: true, attributeFilter: ['data-test-script-state'] });
}"""


@pytest.fixture(scope="module")
def checkpoint_copy(browser_ready, tmp_path_factory):
    """A folder with one untrained 2-D digits model and its time-lapse over EPOCHS (test_browser's server reads it)."""
    import vae

    folder = tmp_path_factory.mktemp("e2e-timelapse")
    config = ModelConfig(kind="conv", image_shape=(8, 8), latent_dim=2, conv_channels=(8, 16), conv_hidden=16)
    vae.save_checkpoint(folder / f"{MODEL}.pt", build_model(config, seed=0), dataset="digits", class_names=DIGITS,
                        metrics={"test_elbo": -50.0})
    write_growing_timelapse(folder / f"{MODEL}.pt", EPOCHS)
    return folder


def player_state(page) -> dict:
    return page.evaluate(f"() => {PLAYER_JS}.describe()")


def canvas_png(page) -> str:
    return page.evaluate(f"() => {PLAYER_JS}.canvas.toDataURL()")


def test_play_and_the_slider_change_the_epoch_in_the_page_without_a_rerun(page, server, artifacts):
    h.open_app(page, f"{server.url}?model={MODEL}")
    h.wait_for_scatter(page)
    h.wait_decoded_shown(page)  # the model is loaded: the page's own rerun for that is over
    player = page.locator(PLAYER)
    player.scroll_into_view_if_needed()
    page.wait_for_function(f"() => {{ const p = document.querySelector('{PLAYER} .timelapse-player');"
                           " return p && p.parentElement.__timelapsePlayer.describe().drawn > 0; }",
                           timeout=h.PAGE_TIMEOUT_MS)
    h.wait_idle(page)
    state = player_state(page)
    assert state["frames"] == len(EPOCHS) and state["epoch"] == EPOCHS[-1] and not state["playing"]
    assert state["drawn"] > 0
    last_picture = canvas_png(page)
    page.evaluate(WATCH_RERUNS)
    player.get_by_role("button", name="Play the time-lapse").click()
    page.wait_for_function(f"() => {PLAYER_JS}.describe().index >= 2", timeout=h.ACTION_TIMEOUT_MS)
    assert canvas_png(page) != last_picture  # an earlier epoch's codes: the dots are elsewhere
    page.wait_for_function(f"() => !{PLAYER_JS}.describe().playing", timeout=h.ACTION_TIMEOUT_MS)
    assert player_state(page)["epoch"] == EPOCHS[-1]  # it played to the end and stopped there
    assert player.locator("output").inner_text() == f"Epoch {EPOCHS[-1]} of {EPOCHS[-1]}"
    slider = player.locator("input[type=range]")
    slider.focus()
    page.keyboard.press("Home")
    assert player_state(page)["epoch"] == EPOCHS[0]
    assert player.locator("output").inner_text() == f"Epoch {EPOCHS[0]} of {EPOCHS[-1]}"
    page.screenshot(path=str(artifacts / "timelapse-first-epoch.png"), full_page=True)
    assert page.evaluate("() => window.__reruns") == 0  # neither playing nor the slider asked the server


def test_the_gif_download_saves_one_frame_per_epoch(page, server, tmp_path):
    h.open_app(page, f"{server.url}?model={MODEL}")
    h.wait_for_scatter(page)
    h.wait_decoded_shown(page)
    button = h.keyed(page, "explore_timelapse_gif").get_by_role("button")  # pages/common/timelapse_view.py GIF_KEY
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=h.PAGE_TIMEOUT_MS) as download:
        button.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"{MODEL}-timelapse.gif"
    with Image.open(saved) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(EPOCHS) and gif.size[1] >= 720
