"""AppTest for the Start, Latent space, Interpolate and Models pages (offline, tiny untrained models)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

import vae
from conftest import BAD_CHECKPOINT_MESSAGES, make_bad_checkpoints
from vae.config import ModelConfig
from vae.models import build_model

MODEL_2D, MODEL_16D = "digits-conv-2d", "digits-mlp-16d"
DIGITS = [str(digit) for digit in range(10)]
TIMEOUT = 120
APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """Two untrained seeded models for the offline 8x8 digits: a conv 2-D and an MLP 16-D."""
    folder = tmp_path_factory.mktemp("checkpoints")
    configs = {
        MODEL_2D: ModelConfig(kind="conv", image_shape=(8, 8), latent_dim=2, conv_channels=(8, 16), conv_hidden=16),
        MODEL_16D: ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=16, hidden_sizes=(32,)),
    }
    for name, config in configs.items():
        vae.save_checkpoint(folder / f"{name}.pt", build_model(config, seed=0), dataset="digits",
                            class_names=DIGITS, metrics={"test_elbo": -50.0})
    return folder


@pytest.fixture(autouse=True)
def navigation_mode(monkeypatch) -> None:
    """Run app.py on every rerun, as the live server does once app.py's st.navigation has run.

    A folder called pages/ next to app.py makes AppTest (which resets the flag before each
    run) use the old pages-folder mode, where switch_page runs the page file alone and
    app.py's sidebar never appears.
    """
    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def app(model_folder, monkeypatch) -> AppTest:
    """The app (not yet run), reading its models from the temporary folder."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(model_folder))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def assert_clean(at: AppTest) -> None:
    """No exception on the page."""
    assert not at.exception, [item.value for item in at.exception]


def page_text(at: AppTest) -> str:
    """All markdown and captions on the page, joined."""
    return "\n".join([item.value for item in at.markdown] + [item.value for item in at.caption])


def click(at: AppTest, point: dict, chart_index: int = 0) -> AppTest:
    """Simulate a plotly click by injecting the chart's selection widget state (fires on_select)."""
    chart = at.get("plotly_chart")[chart_index]
    states = WidgetStates()
    for state in at._tree.get_widget_states().widgets:
        if state.id != chart.proto.id:
            states.widgets.append(state)
    selection = {"points": [point], "point_indices": [point.get("point_index", 0)], "box": [], "lasso": []}
    injected = states.widgets.add()
    injected.id = chart.proto.id
    injected.string_value = json.dumps({"selection": selection})
    return at._run(states)


def figure_spec(at: AppTest, chart_index: int = 0) -> dict:
    """The plotly figure JSON sent to the browser."""
    return json.loads(at.get("plotly_chart")[chart_index].proto.spec)


def open_page(at: AppTest, page: str) -> AppTest:
    """Run the app, then switch to ``pages/<page>.py``."""
    at.run()
    return at.switch_page(f"pages/{page}.py").run()


# ------------------------------------------------------------------ app and sidebar


def test_app_starts_on_latent_space_with_models_from_temp_folder(app):
    app.run()
    assert_clean(app)
    assert app.title[0].value == "Latent space"
    sidebar = app.selectbox(key="sidebar_model")
    assert sidebar.options == [MODEL_2D, MODEL_16D]  # the temp folder, not checkpoints/
    assert sidebar.value == MODEL_2D
    assert "Latent size: 2" in "\n".join(item.value for item in app.sidebar.markdown)
    assert app.query_params["model"] == MODEL_2D


@pytest.mark.parametrize("page", ["home", "explore", "interpolate", "models"])
def test_every_page_loads(app, page):
    open_page(app, page)
    assert_clean(app)
    assert not app.error
    assert app.selectbox(key="sidebar_model").value == MODEL_2D  # the sidebar is on every page


def test_sidebar_switches_model(app):
    app.run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    assert_clean(app)
    assert app.query_params["model"] == MODEL_16D
    assert len(app.slider) == 16


# ------------------------------------------------------------------ latent space


def test_scatter_has_grid_first_and_one_trace_per_class(app):
    app.run()
    spec = figure_spec(app)
    names = [trace.get("name") for trace in spec["data"]]
    assert names[0] == "plane" and names[1:11] == DIGITS and names[-1] == "Chosen point"
    assert all(trace["type"] == "scattergl" for trace in spec["data"])
    assert spec["layout"]["xaxis"]["fixedrange"] is True


def test_click_on_empty_space_decodes_that_point(app):
    app.run()
    click(app, {"x": 1.25, "y": -0.5, "curve_number": 0, "point_index": 7})
    assert_clean(app)
    assert "z1 = 1.250, z2 = -0.500" in page_text(app)
    assert app.slider(key="explore_z_0").value == pytest.approx(1.25)
    assert app.slider(key="explore_z_1").value == pytest.approx(-0.5)
    assert app.query_params["z"] == "1.2500,-0.5000"
    assert len(app.get("image")) >= 1
    assert figure_spec(app)["data"][-1]["x"] == [1.25]  # the cross moved there


def test_click_beyond_the_edge_stops_at_the_slider_ends(app):
    app.run()
    x_low, x_high = figure_spec(app)["layout"]["xaxis"]["range"]
    click(app, {"x": x_low - 5.0, "y": 0.0, "curve_number": 0, "point_index": 0})
    assert_clean(app)
    slider = app.slider(key="explore_z_0")
    assert slider.value == pytest.approx(slider.min) and slider.min == pytest.approx(x_low)


def test_click_on_test_image_shows_original_and_reconstruction(app):
    app.run()
    click(app, {"x": 0.0, "y": 0.0, "curve_number": 4, "point_index": 2})  # third test image of class "3"
    assert_clean(app)
    text = page_text(app)
    assert "Test image #" in text and "(class 3)" in text
    captions = [caption for image in app.get("image") for caption in image.captions]
    assert "Original" in captions and "Reconstruction" in captions


def test_session_state_point_decodes(app):
    app.run()
    app.session_state["explore_point"] = {"model": MODEL_2D, "z": [-2.0, 1.5], "chosen": True}
    app.run()
    assert "z1 = -2.000, z2 = 1.500" in page_text(app)


def test_slider_moves_the_point(app):
    app.run()
    app.slider(key="explore_z_1").set_value(2.0).run()
    assert_clean(app)
    assert "z2 = 2.000" in page_text(app)
    assert app.query_params["z"] == "0.0000,2.0000"


def test_background_images_behind_points(app):
    app.run()
    app.checkbox(key="explore_background").check().run()
    assert_clean(app)
    (image,) = figure_spec(app)["layout"]["images"]
    assert image["layer"] == "below" and image["source"].startswith("data:image/png;base64,")


def test_class_chips_keep_classes_hidden(app):
    app.run()
    app.pills(key="explore_classes").set_value([0, 1, 2]).run()
    assert_clean(app)
    visible = [trace.get("visible", True) for trace in figure_spec(app)["data"][1:11]]
    assert visible[:3] == [True, True, True] and set(visible[3:]) == {"legendonly"}
    click(app, {"x": 0.5, "y": 0.5, "curve_number": 0, "point_index": 0})
    assert [trace.get("visible", True) for trace in figure_spec(app)["data"][1:11]] == visible  # still hidden


def test_download_decoded_png(app):
    app.run()
    button = app.get("download_button")[0]
    assert button.proto.label.startswith("Download this image")


def test_16d_plane_click_keeps_other_dims(app):
    app.run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    app.slider(key="explore_z_5").set_value(1.0).run()
    click(app, {"x": 0.5, "y": 0.25, "curve_number": 0, "point_index": 0})
    assert_clean(app)
    point = np.array(app.session_state["explore_point"]["z"])
    assert point[5] != 0  # not reset to the plane origin
    assert "PCA 1 = 0.500, PCA 2 = 0.250" in page_text(app)
    app.radio(key="explore_plane").set_value("dims").run()
    app.selectbox(key="explore_dim_x").set_value(5).run()
    app.selectbox(key="explore_dim_y").set_value(2).run()
    click(app, {"x": -1.5, "y": 0.75, "curve_number": 0, "point_index": 0})
    assert_clean(app)
    moved = np.array(app.session_state["explore_point"]["z"])
    assert moved[5] == pytest.approx(-1.5) and moved[2] == pytest.approx(0.75)
    np.testing.assert_allclose(np.delete(moved, [2, 5]), np.delete(point, [2, 5]), atol=1e-6)
    assert app.slider(key="explore_z_5").value == pytest.approx(-1.5)


def test_link_restores_point(app):
    app.query_params["model"] = MODEL_2D
    app.query_params["z"] = "0.5,-1.25"
    app.run()
    assert_clean(app)
    assert "z1 = 0.500, z2 = -1.250" in page_text(app)
    assert not app.warning


@pytest.mark.parametrize("bad", ["abc,def", "1,2,3", "nan,1", "1e9,0", ""])
def test_bad_link_point_warns_gently(app, bad):
    app.query_params["z"] = bad
    app.run()
    assert_clean(app)
    if bad:
        assert "was ignored (z=" in app.warning[0].value
    assert "z1 = 0.000, z2 = 0.000" in page_text(app)


def test_link_to_missing_model_warns(app):
    app.query_params["model"] = "no-such-model"
    app.run()
    assert_clean(app)
    assert "no-such-model" in app.warning[0].value
    assert app.query_params["model"] == MODEL_2D


def test_no_models_shows_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert "no model yet" in at.info[0].value.lower()


# ------------------------------------------------------------------ interpolate


def test_interpolate_by_index_draws_strip_and_path(app):
    open_page(app, "interpolate")
    app.radio(key="interp_mode").set_value("index").run()
    app.number_input(key="interp_index_b").set_value(17).run()
    app.slider(key="interp_steps").set_value(6).run()
    app.radio(key="interp_method").set_value("spherical").run()
    assert_clean(app)
    assert "test image #17" in page_text(app)
    assert app.query_params["a"] == "0" and app.query_params["b"] == "17"
    names = [trace.get("name") for trace in figure_spec(app)["data"]]
    assert names[0] == "plane" and names[-2:] == ["A", "B"]
    labels = [button.proto.label for button in app.get("download_button")]
    assert any("PNG" in label for label in labels) and any("GIF" in label for label in labels)


def test_interpolate_clicks_alternate_a_and_b(app):
    open_page(app, "interpolate")
    click(app, {"x": 1.0, "y": 1.0, "curve_number": 0, "point_index": 0})
    assert "**A** (orange): a point on the map (1.00, 1.00)" in page_text(app)
    assert app.query_params["za"] == "1.0000,1.0000" and "a" not in app.query_params
    click(app, {"x": 0.0, "y": 0.0, "curve_number": 2, "point_index": 0})  # first test image of class "1"
    assert_clean(app)
    assert "**B** (blue): test image #" in page_text(app) and "(class 1)" in page_text(app)
    assert "Next click on the map sets **A**" in page_text(app)


def test_interpolate_random_from_classes(app):
    open_page(app, "interpolate")
    app.radio(key="interp_mode").set_value("classes").run()
    app.selectbox(key="interp_class_a").set_value(3)
    app.selectbox(key="interp_class_b").set_value(8)
    app.number_input(key="interp_seed").set_value(4)
    app.button(key="interp_random").click().run()
    assert_clean(app)
    text = page_text(app)
    assert "(class 3)" in text and "(class 8)" in text


def test_interpolate_link_and_bad_link(app):
    app.query_params["a"] = "5"
    app.query_params["zb"] = "1.5,-1.5"
    open_page(app, "interpolate")
    assert "test image #5" in page_text(app) and "a point on the map (1.50, -1.50)" in page_text(app)
    bad = AppTest.from_file(APP, default_timeout=TIMEOUT)
    bad.query_params["a"] = "99999"
    bad.query_params["zb"] = "x"
    open_page(bad, "interpolate")
    assert_clean(bad)
    warnings = " ".join(item.value for item in bad.warning)
    assert "(a=99999)" in warnings and "(zb=x)" in warnings


# ------------------------------------------------------------------ models


def checkpoint_bytes(folder: Path, name: str) -> bytes:
    """The bytes of a checkpoint in the fixture folder."""
    return (folder / f"{name}.pt").read_bytes()


def classic_state_dict_bytes() -> bytes:
    """A state_dict shaped like the classic PyTorch VAE example, for 8x8 images and a 2-D latent."""
    torch.manual_seed(0)
    shapes = {"fc1": (16, 64), "fc21": (2, 16), "fc22": (2, 16), "fc3": (16, 2), "fc4": (64, 16)}
    state = {}
    for layer, shape in shapes.items():
        state[f"{layer}.weight"] = torch.randn(shape) * 0.1
        state[f"{layer}.bias"] = torch.zeros(shape[0])
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_models_table_lists_models(app):
    open_page(app, "models")
    table = app.dataframe[0].value
    assert list(table["Name"]) == [MODEL_2D, MODEL_16D]
    assert {"Dataset", "Latent size", "Test ELBO", "Date"} <= set(table.columns)


def test_corrupt_upload_shows_error_and_app_keeps_working(app, model_folder):
    open_page(app, "models")
    broken = ("broken.pt", b"this is not a checkpoint", "application/octet-stream")
    app.file_uploader(key="models_upload").set_value(broken)
    app.run()
    app.button(key="models_add").click().run()
    assert_clean(app)
    assert "could not be read" in app.error[0].value
    assert not (model_folder / "broken.pt").exists()
    app.switch_page("pages/explore.py").run()
    assert_clean(app)


def test_upload_classic_state_dict_then_delete(app, model_folder):
    open_page(app, "models")
    classic = ("classic vae.pt", classic_state_dict_bytes(), "application/octet-stream")
    app.file_uploader(key="models_upload").set_value(classic)
    app.run()
    assert app.text_input(key="models_upload_name").value == "classic vae"
    app.button(key="models_add").click().run()
    assert_clean(app)
    assert "classic-vae" in app.success[0].value
    assert (model_folder / "classic-vae.pt").is_file()
    assert vae.read_checkpoint(model_folder / "classic-vae.pt")["format"] == "vae-latent-explorer"
    assert app.selectbox(key="sidebar_model").value == "classic-vae"
    app.switch_page("pages/explore.py").run()  # no dataset: the plane still decodes clicks
    assert_clean(app)
    assert app.info and "Clicking the plane still" in app.info[0].value
    app.switch_page("pages/models.py").run()
    app.selectbox(key="models_choice").set_value("classic-vae").run()
    assert app.button(key="models_delete").disabled
    app.checkbox(key="models_delete_confirm").check().run()
    app.button(key="models_delete").click().run()
    assert_clean(app)
    assert not (model_folder / "classic-vae.pt").exists()
    assert list(app.dataframe[0].value["Name"]) == [MODEL_2D, MODEL_16D]


def test_upload_needs_replace_for_an_existing_name(app, model_folder):
    open_page(app, "models")
    data = checkpoint_bytes(model_folder, MODEL_2D)
    app.file_uploader(key="models_upload").set_value((f"{MODEL_16D}.pt", data, "application/octet-stream"))
    app.run()
    app.button(key="models_add").click().run()
    assert "already exists" in app.error[0].value
    assert checkpoint_bytes(model_folder, MODEL_16D) != data


def test_use_and_download_a_model(app, model_folder):
    open_page(app, "models")
    app.selectbox(key="models_choice").set_value(MODEL_16D).run()
    app.button(key="models_use").click().run()
    assert_clean(app)
    assert app.selectbox(key="sidebar_model").value == MODEL_16D
    assert app.query_params["model"] == MODEL_16D
    download = app.get("download_button")[0]
    assert download.proto.label == "Download"


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINT_MESSAGES))
def test_each_bad_checkpoint_upload_shows_its_error(app, model_folder, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in model_folder.iterdir())
    open_page(app, "models")
    upload = (f"{kind}.pt", make_bad_checkpoints(tmp_path)[kind], "application/octet-stream")
    app.file_uploader(key="models_upload").set_value(upload)
    app.run()
    app.button(key="models_add").click().run()
    assert_clean(app)
    assert BAD_CHECKPOINT_MESSAGES[kind] in app.error[0].value
    assert sorted(p.name for p in model_folder.iterdir()) == before
    assert not (tmp_path / "ran-code-marker").exists()
    app.switch_page("pages/explore.py").run()
    assert_clean(app)
    assert app.get("plotly_chart")
