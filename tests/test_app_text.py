"""AppTest with hostile files: names full of Markdown and HTML are shown as text, odd labels keep pages small."""
from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import vae
from conftest import app_reading, assert_clean, assert_shown_as_text, latent_map, map_event, open_page, shown_text
from vae.config import ModelConfig
from vae.models import build_model

CLASSES_MODEL = "hostile-classes"  # digits, ten hostile class names
DATASET_MODEL = "hostile-dataset"  # a hostile dataset name (so its test images cannot be found)
# The app names models with letters, digits, - and _ only, but any file copied into the folder is listed by its name.
FILE_MODEL = "[link](www.x.test) ![pic](x.test.png) *star* _under_ <img src=x.test.png>"  # no "/" in a file name
MANY_NAMES_MODEL = "many-names"  # digits, but 2,000 class names
HOSTILE_CLASSES = (
    "[link](http://x.test/a)", "![image](http://x.test/y.png)", "<a href='http://x.test'>html link</a>",
    "<img src=http://x.test/z.png>", "**bold** _italic_", ":red[red] $x^2$ :smile:", "www.x.test",
    "mail@x.test", "two\nlines # heading", "a & b &amp; c",
)
HOSTILE_DATASET = "[data](http://x.test/d) ![picture](http://x.test/d.png) <b>bold</b>"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """Tiny untrained MLPs for the 8x8 digits whose names and metadata are hostile."""
    folder = tmp_path_factory.mktemp("checkpoints")
    config = ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(16,))
    digits = tuple(str(index) for index in range(10))
    for name, dataset, class_names in ((CLASSES_MODEL, "digits", HOSTILE_CLASSES),
                                       (DATASET_MODEL, HOSTILE_DATASET, digits),
                                       (MANY_NAMES_MODEL, "digits", tuple(f"c{index}" for index in range(2000)))):
        vae.save_checkpoint(folder / f"{name}.pt", build_model(config, seed=0), dataset=dataset,
                            class_names=list(class_names), metrics={"test_elbo": -50.0})
    shutil.copy(folder / f"{MANY_NAMES_MODEL}.pt", folder / f"{FILE_MODEL}.pt")
    return folder


def open_app(model_folder: Path, monkeypatch, model: str, page: str = "explore",
             params: dict[str, str] | None = None) -> AppTest:
    """The app on ``pages/<page>.py`` showing ``model``; with query parameters ``params``, the app's first page as
    opened from a link (switching pages would drop them)."""
    app = app_reading(model_folder, monkeypatch)
    if not params:
        return open_page(app, page, model)
    app.session_state["model_name"] = model
    app.query_params.update(params)
    app.run()
    assert_clean(app)
    return app

def bodies(elements) -> list[str]:
    return [str(element.value) for element in elements]


def body_with(elements, words: str) -> str:
    """The one element body that shows ``words`` (escapes ignored)."""
    found = [body for body in bodies(elements) if words in shown_text(body)]
    assert len(found) == 1, (words, bodies(elements))
    return found[0]


# ------------------------------------------------------------------ names shown as text


@pytest.mark.slow
def test_the_sidebar_and_the_plane_note_show_a_hostile_dataset_name_as_text(model_folder, monkeypatch):
    app = open_app(model_folder, monkeypatch, DATASET_MODEL)
    assert_shown_as_text(body_with(app.sidebar.markdown, "Data:"), HOSTILE_DATASET)
    assert_shown_as_text(body_with(app.info, "Clicking the plane"), HOSTILE_DATASET)


@pytest.mark.slow
def test_interpolate_shows_a_hostile_dataset_name_as_text(model_folder, monkeypatch):
    app = open_app(model_folder, monkeypatch, DATASET_MODEL, "interpolate")
    assert_shown_as_text(body_with(app.info, "You can still click"), HOSTILE_DATASET)


@pytest.mark.slow
def test_the_latent_space_page_shows_hostile_class_names_as_text(model_folder, monkeypatch):
    app = open_app(model_folder, monkeypatch, CLASSES_MODEL)
    shown = latent_map(app)
    assert shown["class_names"] == list(HOSTILE_CLASSES)  # raw: the canvas map writes them with textContent
    chips = app.button_group[0]
    assert len(chips.options) == len(HOSTILE_CLASSES)
    for option, raw in zip(chips.options, HOSTILE_CLASSES):  # the chips read Markdown
        assert_shown_as_text(option, raw)
    for label, raw in enumerate(HOSTILE_CLASSES):
        index = int(np.flatnonzero(shown["label_array"] == label)[0])
        x, y = (float(value) for value in shown["points"][index])
        app = map_event(app, "click", {"x": x, "y": y, "index": index})
        assert not app.exception, [item.value for item in app.exception]
        assert_shown_as_text(body_with(app.markdown, f"Test image #{index}"), raw)


@pytest.mark.slow
def test_interpolate_shows_hostile_class_names_as_text_in_its_lines_and_its_legend(model_folder, monkeypatch):
    app = open_app(model_folder, monkeypatch, CLASSES_MODEL, "interpolate")
    ends = body_with(app.markdown, "(orange)")
    labels = latent_labels(app)
    for end, index in (("a", 0), ("b", app.session_state["interp_ends"]["b"]["index"])):
        assert_shown_as_text(ends, HOSTILE_CLASSES[labels[index]])
    assert latent_map(app)["class_names"] == list(HOSTILE_CLASSES)  # raw: the canvas map writes them with textContent


def latent_labels(app: AppTest) -> np.ndarray:
    """The class of every test image, as the Interpolate page's map has them."""
    return latent_map(app)["label_array"]


@pytest.mark.slow
@pytest.mark.parametrize("param, value", [("model", "![x](http://x.test/y.png)"), ("z", "[x](http://x.test)"),
                                          ("model", "<img src=http://x.test/p.png>")])
def test_link_values_are_shown_as_text(model_folder, monkeypatch, param, value):
    app = open_app(model_folder, monkeypatch, CLASSES_MODEL, params={param: value})
    assert_shown_as_text(" ".join(bodies(app.warning)), value)


@pytest.mark.slow
@pytest.mark.parametrize("page", ["home", "generate", "explore"])
def test_a_hostile_model_file_name_is_shown_as_text(model_folder, monkeypatch, page):
    app = open_app(model_folder, monkeypatch, FILE_MODEL, page)
    texts = bodies(app.success) + bodies(app.markdown) + bodies(app.sidebar.markdown) + bodies(app.error)
    shown = [body for body in texts if FILE_MODEL in shown_text(body)]
    assert len(shown) >= 2, texts  # the sidebar, and the page's own line (or why the model cannot be loaded)
    for body in shown:
        assert_shown_as_text(body, FILE_MODEL)


@pytest.mark.slow
def test_the_models_page_shows_model_names_as_text(model_folder, monkeypatch):
    app = open_app(model_folder, monkeypatch, CLASSES_MODEL, "models")
    app.selectbox(key="models_choice").set_value(FILE_MODEL).run()
    assert_shown_as_text(app.checkbox(key="models_delete_confirm").label, FILE_MODEL)
    app.button(key="models_use").click().run()
    assert_shown_as_text(body_with(app.success, "Every page now uses"), FILE_MODEL)


def test_the_map_component_writes_names_as_text_never_as_html():
    folder = Path(__file__).resolve().parent.parent / "pages" / "common"
    for module in ("latent_map.js", "map_live.js", "map_draw.js", "map_scrubber.js"):  # the map's modules (the sliders' labels too)
        script = (folder / module).read_text()
        assignments = re.findall(r"innerHTML\s*=\s*`([^`]*)`", script)
        assert len(assignments) == script.count("innerHTML"), f"{module}: innerHTML set from something not fixed"
        assert all("${" not in template for template in assignments)  # each template is fixed markup
    script = (folder / "latent_map.js").read_text()
    assert "textContent" in script and "createTextNode(name)" in script
    assert "name.textContent = label" in (folder / "map_live.js").read_text()  # the sliders' names


# ------------------------------------------------------------------ labels: pages stay small


@pytest.mark.slow
def test_a_checkpoint_with_thousands_of_class_names_draws_only_the_classes_present(model_folder, monkeypatch):
    app = open_app(model_folder, monkeypatch, MANY_NAMES_MODEL)
    shown = latent_map(app)
    present = sorted(set(shown["label_array"].tolist()))
    assert present == list(range(10))  # the digits' ten classes
    assert shown["class_names"] == [f"c{index}" for index in range(10)] and len(shown["colors"]) == 10
    assert len(app.button_group[0].options) == 10

    app.switch_page("pages/interpolate.py").run()
    assert not app.exception, [item.value for item in app.exception]
    assert latent_map(app)["class_names"] == [f"c{index}" for index in range(10)]

    app.switch_page("pages/reconstructions.py").run()
    assert not app.exception, [item.value for item in app.exception]
    assert len(app.selectbox(key="recon_class").options) == 1 + 10  # "All classes" and the ten present
