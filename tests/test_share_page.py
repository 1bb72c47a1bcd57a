"""The map as one web page (pages/common/share_page.py): one file that asks for nothing, names shown as text, and
the Latent space page's button that makes it (AppTest). tests/test_browser_share.py opens it in a real browser."""
from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import numpy as np
import pytest

import vae
from conftest import MODEL_16D, app_model_path, assert_clean, latent_map, map_click, map_json
from pages.common import live, share_page
from pages.common.planes import Plane
from vae.io import web as vae_web

WEB_PAGE_KEY = "explore_web_page"  # pages/explore.py WEB_PAGE_KEY
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background", "ping", "manifest"}
HOSTILE_NAME = '<script>alert("name")</script> &amp; <b>bold</b>'
HOSTILE_DATASET = "</title><img src=x onerror=alert(1)>"
HOSTILE_CLASSES = ("</script><script>alert(1)</script>", "<!-- never closed", "a & b", "</SCRIPT ><img src=y>",
                   '"quoted"')


class PageParts(HTMLParser):
    """Every element of an HTML text with its attributes, and the text inside each <title>, <h1>, <p>, <script>
    and <style> (Python's HTML tokenizer, which like a browser's reads a script's text up to ``</script``)."""

    KEPT = {"title", "h1", "p", "script", "style"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.texts: list[tuple[str, dict, str]] = []
        self._open: list[tuple[str, dict, list[str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag in self.KEPT:
            self._open.append((tag, attributes, []))

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            name, attributes, parts = self._open.pop()
            self.texts.append((name, attributes, "".join(parts)))

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)

    def text_of(self, tag: str) -> list[str]:
        return [text for name, _, text in self.texts if name == tag]

    def map_data(self) -> dict:
        (text,) = [text for name, attributes, text in self.texts
                   if name == "script" and attributes.get("type") == "application/json"]
        return json.loads(text)


def make_plane(means: np.ndarray, labels: np.ndarray, class_names, method: str = "pca") -> Plane:
    """The plane pages/common/planes.py makes of these codes (its own computation, from vae's functions)."""
    latent_dim = means.shape[1]
    projection = vae.plane_projection(means, latent_dim, method, (0, 1))
    points = projection.to_2d(means)
    return Plane(projection, points, np.asarray(labels), tuple(class_names), vae.plots.axis_range(points[:, 0]),
                 vae.plots.axis_range(points[:, 1]),
                 tuple(vae.plots.axis_range(means[:, d]) for d in range(latent_dim)), "")


def floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f4")


@pytest.fixture
def tiny_page(tiny_model) -> dict:
    """A page of the tiny 2-D MLP over 300 random codes, with what it was made of."""
    rng = np.random.default_rng(1)
    means = rng.normal(size=(300, 2)).astype(np.float32)
    plane = make_plane(means, rng.integers(0, 10, 300), [str(d) for d in range(10)])
    payload = vae.export_decoder(tiny_model).payload()
    point = np.array([0.25, -0.5], np.float32)
    page = share_page.web_page("tiny", plane, point, payload, dataset="digits", hidden_classes=[3])
    return {"bytes": page, "plane": plane, "payload": payload, "point": point}


# ---------------------------------------------------------------- one file


def test_the_page_is_one_file_that_asks_for_nothing(tiny_page):
    text = tiny_page["bytes"].decode("utf-8")
    parts = PageParts(text)
    for tag, attributes in parts.elements:
        for name, value in attributes.items():
            if name in URL_ATTRIBUTES or name.startswith("on"):
                assert name in URL_ATTRIBUTES and (value or "").startswith("data:"), (tag, name, value)
    assert ("link", {"rel": "icon", "href": "data:,"}) in parts.elements  # no favicon fetch
    assert not {tag for tag, _ in parts.elements} & {"img", "iframe", "object", "embed", "video", "audio", "base",
                                                      "form", "source", "track"}
    scripts = [(attributes, body) for name, attributes, body in parts.texts if name == "script"]
    assert [attributes.get("type") for attributes, _ in scripts] == ["application/json", "module"]  # inline only
    policy = next(a["content"] for tag, a in parts.elements if a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy and "connect-src" not in policy  # every request refused by the browser
    for style in parts.text_of("style"):
        assert "url(" not in style and "@import" not in style
    for marker in ("http:", "https:", "//cdn", "import(", "fetch(", "XMLHttpRequest", "WebSocket", "EventSource"):
        assert marker not in text, marker


def test_the_page_holds_the_map_and_the_decoder_once(tiny_page):
    text = tiny_page["bytes"].decode("utf-8")
    data = PageParts(text).map_data()
    plane, payload = tiny_page["plane"], tiny_page["payload"]
    assert text.count(payload["weights"][:64]) == 1  # one copy of the weights
    assert data["live"]["decoder"] == payload
    np.testing.assert_array_equal(floats(data["points"]["x"]), plane.points2d[:, 0])
    np.testing.assert_array_equal(floats(data["points"]["y"]), plane.points2d[:, 1])
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(data["points"]["labels"]), "<u2"), plane.labels)
    assert data["legend_local"] is True and data["hidden"] == [3]
    assert data["marker"] == pytest.approx(tiny_page["point"].tolist()) and data["live"]["point"] == \
        pytest.approx(tiny_page["point"].tolist())  # a 2-D plane is the codes
    assert data["live"]["lift"] == vae_web.lift_payload(plane.projection, tiny_page["point"])
    assert data["live"]["ranges"] == [list(r) for r in plane.dim_ranges]
    assert data["live"]["sliders"] == live.slider_spec(2)
    assert "Trained on digits." in PageParts(text).text_of("p")[0]


def test_names_from_files_stay_text(tiny_model):
    means = np.random.default_rng(2).normal(size=(40, 16)).astype(np.float32)
    plane = make_plane(means, np.arange(40) % len(HOSTILE_CLASSES), HOSTILE_CLASSES)
    page = share_page.web_page(HOSTILE_NAME, plane, means[0], {"header": {"sha256": "0" * 64}, "weights": ""},
                               dataset=HOSTILE_DATASET, codes=means).decode("utf-8")
    parts = PageParts(page)
    assert parts.text_of("title") == [f"{HOSTILE_NAME}: latent space"]
    assert parts.text_of("h1") == [f"Latent space of {HOSTILE_NAME}"]
    assert HOSTILE_DATASET in parts.text_of("p")[0]
    assert [tag for tag, _ in parts.elements if tag in ("script", "img", "b")] == ["script", "script"]
    data = parts.map_data()
    assert data["class_names"] == list(HOSTILE_CLASSES)  # JSON carries them, the map writes them as text
    # A browser ends a script at "</script" followed by a space, "/" or ">", and "<!--" changes how it reads on
    # (Python's tokenizer waits for ">"): only the two closing tags may be there.
    assert page.lower().count("</script") == 2 and "<!--" not in page
    (script,) = [text for name, attributes, text in parts.texts if attributes.get("type") == "module"]
    assert script.rstrip().endswith("startSharedPage(mountLatentMap);")  # no name ended a script early
    np.testing.assert_array_equal(floats(data["points"]["codes"]).reshape(40, 16), means)
    assert "16 numbers" in " ".join(parts.text_of("p"))


def test_the_page_calls_the_map_s_default_export(monkeypatch):
    script = share_page.page_script()
    assert "export default" not in script and script.rstrip().endswith("startSharedPage(mountLatentMap);")
    assert script.count("function mountLatentMap(") == 1
    monkeypatch.setattr(share_page.latent_map, "component_js",
                        lambda: 'export default function (c) { return "</script><!--" + "</Script>"; }')
    script = share_page.page_script()
    assert "</script" not in script.lower() and "<!--" not in script  # the same text for JavaScript: <\/script
    monkeypatch.setattr(share_page.latent_map, "component_js", lambda: "export function other() {}")
    with pytest.raises(RuntimeError, match="export default"):
        share_page.page_script()


# ---------------------------------------------------------------- the button (AppTest)


def web_page_button(at):
    (button,) = [b for b in at.get("download_button") if b.proto.id.endswith(f"-{WEB_PAGE_KEY}")]
    return button


@pytest.mark.slow
def test_the_latent_space_page_saves_the_map_as_one_web_page(app, media):
    app.run()
    map_click(app, 1.25, -0.5)
    assert_clean(app)
    button = web_page_button(app)
    assert button.proto.label == share_page.BUTTON_LABEL and not button.proto.disabled
    assert button.proto.deferred_file_id  # made only when clicked
    page, mimetype = media.download(button)
    assert mimetype == "text/html"
    parts = PageParts(page.decode("utf-8"))
    name = app.session_state["model_name"]
    assert parts.text_of("title") == [f"{name}: latent space"] and "Trained on digits." in parts.text_of("p")[0]
    data, shown = parts.map_data(), latent_map(app)
    expected = vae_web.export_decoder(vae.load_model(app_model_path(app)))
    assert data["live"]["decoder"]["header"]["sha256"] == expected.sha256
    np.testing.assert_array_equal(floats(data["live"]["decoder"]["weights"]), expected.weights)
    np.testing.assert_array_equal(np.stack([floats(data["points"]["x"]), floats(data["points"]["y"])], 1),
                                  shown["points"])  # the dots the app's map shows
    assert data["live"]["point"] == pytest.approx([1.25, -0.5], abs=1e-6)  # the chosen point
    assert data["marker"] == pytest.approx(map_json(app)["marker"], abs=1e-6)


@pytest.mark.slow
def test_a_16d_model_s_page_carries_its_codes_and_the_plane_in_view(app, media):
    app.run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    app.radio(key="explore_plane").set_value("dims").run()
    app.selectbox(key="explore_dim_x").set_value(4).run()
    assert_clean(app)
    data = PageParts(media.download(web_page_button(app))[0].decode("utf-8")).map_data()
    means = vae.load_model(app_model_path(app)).encode(vae.load_dataset("digits").test_images)[0]
    np.testing.assert_allclose(floats(data["points"]["codes"]).reshape(-1, 16), means, rtol=1e-4, atol=1e-5)
    assert data["axis_titles"] == ["z5", "z2"] and data["live"]["lift"]["axes"][0][4] == 1.0


@pytest.mark.slow
def test_without_a_decoder_the_browser_can_run_the_button_says_why(app, monkeypatch):
    def refuse(model) -> None:
        raise vae_web.UnsupportedLayer("The decoder uses a step the in-browser decoder cannot run yet: Tanh (net.1).")

    monkeypatch.setattr(vae, "export_decoder", refuse)
    live._export_cached.clear()  # the export is cached per checkpoint file version
    try:
        app.run()
        assert_clean(app)
        button = web_page_button(app)
        assert button.proto.disabled and button.proto.help == share_page.UNAVAILABLE
        assert share_page.UNAVAILABLE in [caption.value for caption in app.caption]
    finally:
        live._export_cached.clear()
