"""Hostile names in a real browser: what Streamlit and plotly render from them is text, never a link or an image.

AppTests see the Markdown the app sends; only a browser shows what Streamlit's Markdown (GitHub-flavoured,
with bare-address links) and plotly's labels make of it. One server for the module, on a temporary folder
holding one untrained model of the 8x8 digits whose class names and file name are hostile.
"""
from __future__ import annotations

import shutil
import urllib.parse

import pytest

from benchmarks import browser_harness as h
from test_browser import require_browser

pytestmark = pytest.mark.e2e

HOST = "x.test"  # every link and picture in the names points here; the page must never ask for it
CLASSES = (
    f"[link](http://{HOST}/a)", f"![image](http://{HOST}/y.png)", f"<a href='http://{HOST}/h'>html link</a>",
    f"<img src=http://{HOST}/z.png>", "**bold** _italic_", ":red[red] $x^2$", f"www.{HOST}",
    f"mail@{HOST}", "two\nlines", "a & b &amp; c",
)
MODEL = "hostile"
FILE_MODEL = f"[file](http:{HOST}) ![pic](www.{HOST}.png)"  # a file copied into the folder: no "/" in it
# Every link and picture on the page that leads to HOST (the page's own address carries the names in its query).
LINKS = f"""() => [...document.querySelectorAll('a, img, image')].map(element =>
    element.getAttribute('href') || element.getAttribute('src') || element.getAttribute('xlink:href') ||
    element.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '')
    .filter(url => url && new URL(url, location.href).hostname.endsWith('{HOST}'))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    import vae
    from vae.config import ModelConfig
    from vae.models import build_model

    folder = tmp_path_factory.mktemp("hostile-checkpoints")
    model = build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(16,)), seed=0)
    vae.save_checkpoint(folder / f"{MODEL}.pt", model, dataset="digits", class_names=list(CLASSES))
    shutil.copy(folder / f"{MODEL}.pt", folder / f"{FILE_MODEL}.pt")
    log = tmp_path_factory.mktemp("hostile-server") / "streamlit.log"
    running = h.start_server(folder, log)
    try:
        h.wait_healthy(running)
        yield running
    finally:
        h.stop_server(running)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = h.launch_browser(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that records every request for the hostile host."""
    opened = h.new_page(browser)
    opened.requested = []
    opened.on("request", lambda request: (urllib.parse.urlsplit(request.url).hostname or "").endswith(HOST)
              and opened.requested.append(request.url))
    yield opened
    opened.context.close()


def visible_text(page) -> str:
    """The page's text as a reader sees it (the invisible word joiners that keep addresses from linking dropped)."""
    return page.evaluate("() => document.body.innerText").replace("\u2060", "")


def assert_no_link_and_no_fetch(page) -> None:
    assert page.evaluate(LINKS) == []
    assert page.requested == []


def test_hostile_class_names_are_text_on_the_latent_space_and_interpolate_pages(page, server):
    h.open_app(page, f"{server.url}?model={MODEL}")
    h.wait_for_scatter(page)
    text = visible_text(page)
    for name in CLASSES:
        assert " ".join(name.split("\n")) in text or name in text, name  # the legend and the chips
    assert_no_link_and_no_fetch(page)

    h.open_page_from_menu(page, "Interpolate")
    h.wait_for_scatter(page, h.INTERPOLATE_CHART)
    legend = h.keyed(page, h.INTERPOLATE_CHART).locator("button.latent-map-legend-item").all_text_contents()
    assert legend == [" ".join(name.split("\n")) for name in CLASSES] or legend == list(CLASSES), legend
    assert "(class " in visible_text(page)  # the A/B lines name the classes
    assert_no_link_and_no_fetch(page)


@pytest.mark.parametrize("link", [f"![x](http://{HOST}/p.png)", f"[x](http://{HOST}) www.{HOST}"])
def test_a_hostile_link_and_a_hostile_model_file_name_are_text(page, server, link):
    h.open_app(page, f"{server.url}?model={urllib.parse.quote(link)}")
    assert link in visible_text(page)  # the "model not here" warning
    assert_no_link_and_no_fetch(page)
    h.open_app(page, f"{server.url}?model={urllib.parse.quote(FILE_MODEL)}")
    assert FILE_MODEL in visible_text(page)  # the sidebar, and why the model cannot be loaded
    assert_no_link_and_no_fetch(page)
