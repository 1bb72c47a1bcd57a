"""AppTest for the Start, Latent space, Interpolate and Models pages (offline, tiny untrained models)."""
from __future__ import annotations

import io
import os
import stat
import time
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from conftest import (APP, BAD_CHECKPOINT_MESSAGES, DIGITS, HOSTILE_MESSAGES, MODEL_2D, MODEL_16D, RAN_CODE_MARKER, TIMEOUT,
                      app_model_path, assert_clean, latent_map, make_bad_checkpoints, map_click, map_event, map_json,
                      map_slider, open_page, page_text, shown_text)
from pages.common import datasets, latent_map as latent_map_module, model_access, model_upload, shell, sidebar
from vae.config import ModelConfig
from vae.models import build_model




# ------------------------------------------------------------------ app and sidebar


@pytest.mark.slow
def test_app_starts_on_latent_space_with_models_from_temp_folder(app):
    app.run()
    assert_clean(app)
    assert app.title[0].value == "Latent space"
    sidebar = app.selectbox(key="sidebar_model")
    assert sidebar.options == [MODEL_2D, MODEL_16D]  # the temp folder, not checkpoints/
    assert sidebar.value == MODEL_2D
    assert "Latent size: 2" in "\n".join(item.value for item in app.sidebar.markdown)
    assert app.query_params["model"] == MODEL_2D


@pytest.mark.parametrize("page", [Path(spec.path).stem for spec in shell.PAGES])
def test_every_page_loads(app, page):
    open_page(app, page)
    assert_clean(app)
    assert not app.error
    assert app.selectbox(key="sidebar_model").value == MODEL_2D  # the sidebar is on every page


@pytest.mark.slow
def test_sidebar_switches_model(app):
    app.run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    assert_clean(app)
    assert app.query_params["model"] == MODEL_16D
    assert map_json(app)["live"]["sliders"]["labels"] == [f"z{dim}" for dim in range(1, 17)]  # in the map


# ------------------------------------------------------------------ latent space


@pytest.mark.slow
def test_map_shows_every_test_image_with_its_class(app):
    app.run()
    data = latent_map(app)
    digits = vae.load_dataset("digits")
    assert data["class_names"] == DIGITS and len(data["colors"]) == 10
    assert data["count"] == len(digits.test_labels) == len(data["points"])
    np.testing.assert_array_equal(data["label_array"], digits.test_labels)
    codes = vae.load_model(app_model_path(app)).encode(digits.test_images)[0]
    np.testing.assert_allclose(data["points"], codes, rtol=1e-4, atol=1e-5)  # a 2-D model's plane is its codes
    assert data["marker"] == [0.0, 0.0] and data["axis_titles"] == ["z1", "z2"] and data["background"] is None


@pytest.mark.slow
def test_click_on_empty_space_decodes_that_point(app):
    app.run()
    map_click(app, 1.25, -0.5)
    assert_clean(app)
    assert "z1 = 1.250, z2 = -0.500" in page_text(app)
    assert map_json(app)["live"]["point"] == pytest.approx([1.25, -0.5])  # the sliders in the map show it
    assert (app.session_state["explore_z_0"], app.session_state["explore_z_1"]) == pytest.approx((1.25, -0.5))
    assert app.query_params["z"] == "1.2500,-0.5000"
    assert len(app.get("image")) >= 1
    assert latent_map(app)["marker"] == pytest.approx([1.25, -0.5])  # the cross moved there


@pytest.mark.slow
def test_click_beyond_the_edge_stops_at_the_slider_ends(app):
    app.run()
    x_low, x_high = latent_map(app)["x_range"]
    map_click(app, x_low - 5.0, 0.0)
    assert_clean(app)
    low, _ = map_json(app)["live"]["ranges"][0]
    assert map_json(app)["live"]["point"][0] == pytest.approx(low) and low == pytest.approx(x_low)


@pytest.mark.slow
def test_click_on_test_image_shows_original_and_reconstruction(app):
    app.run()
    digits = vae.load_dataset("digits")
    index = int(np.flatnonzero(digits.test_labels == 3)[2])  # the third test image of class "3"
    map_click(app, 0.0, 0.0, index)
    assert_clean(app)
    text = page_text(app)
    assert f"Test image #{index}" in text and "(class 3)" in text
    z = vae.load_model(app_model_path(app)).encode(digits.test_images[index:index + 1])[0][0]
    assert app.session_state["explore_point"]["z"] == pytest.approx(z.tolist(), abs=1e-4)  # its code, not (0, 0)
    captions = [caption for image in app.get("image") for caption in image.captions]
    assert "Original" in captions and "Reconstruction" in captions


@pytest.mark.slow
def test_session_state_point_decodes(app):
    app.run()
    app.session_state["explore_point"] = {"model": MODEL_2D, "z": [-2.0, 1.5], "chosen": True}
    app.run()
    assert "z1 = -2.000, z2 = 1.500" in page_text(app)


@pytest.mark.slow
def test_slider_moves_the_point(app):
    app.run()
    map_slider(app, 1, 2.0)
    assert_clean(app)
    assert "z2 = 2.000" in page_text(app)
    assert map_json(app)["marker"] == pytest.approx([0.0, 2.0])  # the cross follows
    assert app.query_params["z"] == "0.0000,2.0000"


@pytest.mark.slow
def test_background_images_behind_points(app):
    app.run()
    app.checkbox(key="explore_background").check().run()
    assert_clean(app)
    assert latent_map(app)["background"].startswith("data:image/png;base64,")


@pytest.mark.slow
def test_class_chips_keep_classes_hidden(app):
    app.run()
    app.pills(key="explore_classes").set_value([0, 1, 2]).run()
    assert_clean(app)
    assert latent_map(app)["hidden"] == list(range(3, 10))
    map_click(app, 0.5, 0.5)
    assert latent_map(app)["hidden"] == list(range(3, 10))  # still hidden


@pytest.mark.slow
def test_legend_click_hides_a_class_and_shows_it_again(app):
    app.run()
    map_event(app, "legend", 4)
    assert_clean(app)
    assert latent_map(app)["hidden"] == [4]
    assert app.pills(key="explore_classes").value == [0, 1, 2, 3, 5, 6, 7, 8, 9]  # the chips follow
    map_click(app, 0.5, 0.5)
    assert latent_map(app)["hidden"] == [4]  # a click elsewhere keeps it hidden
    map_event(app, "legend", 4)
    assert latent_map(app)["hidden"] == [] and app.pills(key="explore_classes").value == list(range(10))


@pytest.mark.slow
@pytest.mark.parametrize("value", [{"x": "left", "y": 0}, {"x": None, "y": 1.0}, {"y": 2.0}, "nonsense",
                                   {"x": 0.5, "y": 0.5, "index": 10 ** 9}, {"x": 0.5, "y": 0.5, "index": True}])
def test_a_malformed_click_changes_nothing_or_only_decodes(app, value):
    app.run()
    map_click(app, 1.0, 1.0)
    map_event(app, "click", value)
    assert_clean(app)
    assert not app.error
    expected = [0.5, 0.5] if isinstance(value, dict) and value.get("x") == 0.5 else [1.0, 1.0]
    assert app.session_state["explore_point"]["z"] == pytest.approx(expected)  # a bad index is not a test image
    assert "Test image #" not in page_text(app)


@pytest.mark.slow
@pytest.mark.parametrize("value", [99, -1, "3", None])
def test_a_malformed_legend_click_changes_nothing(app, value):
    app.run()
    map_event(app, "legend", value)
    assert_clean(app)
    assert latent_map(app)["hidden"] == []


@pytest.mark.slow
def test_a_legend_click_after_hiding_every_class_shows_only_that_class(app):
    app.run()
    app.pills(key="explore_classes").set_value([]).run()
    assert latent_map(app)["hidden"] == list(range(10))
    map_event(app, "legend", 4)
    assert_clean(app)
    assert latent_map(app)["hidden"] == [c for c in range(10) if c != 4]
    assert app.pills(key="explore_classes").value == [4]


@pytest.mark.slow
def test_download_decoded_png(app):
    app.run()
    button = app.get("download_button")[0]
    assert button.proto.label.startswith("Download this image")


@pytest.mark.slow
def test_16d_plane_click_keeps_other_dims(app):
    app.run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    map_slider(app, 5, 1.0)
    map_click(app, 0.5, 0.25)
    assert_clean(app)
    point = np.array(app.session_state["explore_point"]["z"])
    assert point[5] != 0  # not reset to the plane origin
    assert "PCA 1 = 0.500, PCA 2 = 0.250" in page_text(app)
    app.radio(key="explore_plane").set_value("dims").run()
    app.selectbox(key="explore_dim_x").set_value(5).run()
    app.selectbox(key="explore_dim_y").set_value(2).run()
    map_click(app, -1.5, 0.75)
    assert_clean(app)
    moved = np.array(app.session_state["explore_point"]["z"])
    assert moved[5] == pytest.approx(-1.5) and moved[2] == pytest.approx(0.75)
    np.testing.assert_allclose(np.delete(moved, [2, 5]), np.delete(point, [2, 5]), atol=1e-6)
    assert map_json(app)["live"]["point"][5] == pytest.approx(-1.5)


@pytest.mark.slow
def test_link_restores_point(app):
    app.query_params["model"] = MODEL_2D
    app.query_params["z"] = "0.5,-1.25"
    app.run()
    assert_clean(app)
    assert "z1 = 0.500, z2 = -1.250" in page_text(app)
    assert not app.warning


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["abc,def", "1,2,3", "nan,1", "1e9,0", ""])
def test_bad_link_point_warns_gently(app, bad):
    app.query_params["z"] = bad
    app.run()
    assert_clean(app)
    if bad:
        assert "was ignored (z=" in app.warning[0].value
    assert "z1 = 0.000, z2 = 0.000" in page_text(app)


@pytest.mark.slow
def test_link_to_missing_model_warns(app):
    app.query_params["model"] = "no-such-model"
    app.run()
    assert_clean(app)
    assert "no-such-model" in shown_text(app.warning[0].value)
    assert app.query_params["model"] == MODEL_2D


@pytest.mark.slow
def test_no_models_shows_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert "no model yet" in at.info[0].value.lower()


# ------------------------------------------------------------------ interpolate


@pytest.mark.slow
def test_interpolate_by_index_draws_strip_and_path(app):
    open_page(app, "interpolate")
    app.radio(key="interp_mode").set_value("index").run()
    app.number_input(key="interp_index_b").set_value(17).run()
    app.slider(key="interp_steps").set_value(6).run()
    app.radio(key="interp_method").set_value("spherical").run()
    assert_clean(app)
    assert "test image #17" in page_text(app)
    assert app.query_params["a"] == "0" and app.query_params["b"] == "17"
    shown = latent_map(app)
    codes = vae.load_model(app_model_path(app)).encode(vae.load_dataset("digits").test_images[[0, 17]])[0]
    path = np.array(shown["path"])
    assert path.shape == (6, 2) and shown["group"] == "interp_scatter"
    assert np.allclose(path[[0, -1]], codes, atol=1e-4)  # a 2-D model's plane is its codes: A and B sit on their images
    labels = [button.proto.label for button in app.get("download_button")]
    assert any("PNG" in label for label in labels) and any("GIF" in label for label in labels)


@pytest.mark.slow
def test_interpolate_clicks_alternate_a_and_b(app):
    open_page(app, "interpolate")
    map_click(app, 1.0, 1.0)
    assert "**A** (orange): a point on the map (1.00, 1.00)" in page_text(app)
    assert app.query_params["za"] == "1.0000,1.0000" and "a" not in app.query_params
    first_of_class_1 = int(np.flatnonzero(vae.load_dataset("digits").test_labels == 1)[0])
    map_click(app, 0.0, 0.0, first_of_class_1)
    assert_clean(app)
    assert "**B** (blue): test image #" in page_text(app) and "(class 1)" in page_text(app)
    assert "Next click on the map sets **A**" in page_text(app)


@pytest.mark.slow
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


@pytest.mark.slow
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


# ------------------------------------------------------------------ callbacks after a delete in another tab


@pytest.fixture
def own_folder(model_folder, tmp_path, monkeypatch) -> Path:
    """A copy of both models in a folder of this test's own (it may delete one), read by the app."""
    folder = tmp_path / "models"
    folder.mkdir()
    for path in model_folder.glob("*.pt"):
        shutil.copy2(path, folder / path.name)
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    return folder


def assert_error_without_traceback(at: AppTest, words: str) -> None:
    """An st.error (main area or sidebar) saying ``words``, shown once, and no exception."""
    assert_clean(at)
    messages = [shown_text(item.value) for item in at.error]
    assert sum(words in message for message in messages) == 1, messages


@pytest.mark.slow
def test_a_map_click_after_the_model_was_deleted_elsewhere_shows_a_message(own_folder):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert at.selectbox(key="sidebar_model").value == MODEL_2D
    (own_folder / f"{MODEL_2D}.pt").unlink()  # the Models page of another tab deleted it
    map_click(at, 0.5, 0.5)
    assert_error_without_traceback(at, f"no model called '{MODEL_2D}'")
    assert at.selectbox(key="sidebar_model").value == MODEL_16D  # the app goes on with the model that is left
    map_click(at, 0.25, 0.25)
    assert_clean(at)
    assert not at.error and "PCA 1 = 0.250" in page_text(at)


@pytest.mark.slow
@pytest.mark.parametrize("event", ["click", "legend", "slider"])
def test_a_failing_map_callback_shows_a_message(app, monkeypatch, event):
    app.run()

    def fail(key: str, name: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(latent_map_module, "event", fail)
    value = {"legend": 3, "click": {"x": 0.5, "y": 0.5}, "slider": {"z": [0.5, 0.5]}}[event]
    map_event(app, event, value)
    assert_error_without_traceback(app, "Something went wrong")
    assert latent_map(app)["count"] > 0  # the map is still there


@pytest.mark.slow
def test_an_interpolate_click_after_the_model_was_deleted_elsewhere_shows_a_message(own_folder):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    open_page(at, "interpolate")
    (own_folder / f"{MODEL_2D}.pt").unlink()
    map_click(at, 1.0, 1.0)
    assert_error_without_traceback(at, f"no model called '{MODEL_2D}'")


@pytest.mark.slow
def test_a_failing_sidebar_choice_shows_a_message(app, monkeypatch):
    app.run()

    def fail(name: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sidebar, "set_active_model", fail)
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    assert_error_without_traceback(app, "Something went wrong")


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


@pytest.mark.slow
def test_models_table_lists_models(app):
    open_page(app, "models")
    table = app.dataframe[0].value
    assert list(table["Name"]) == [MODEL_2D, MODEL_16D]
    assert {"Dataset", "Latent size", "Test ELBO", "Date"} <= set(table.columns)


@pytest.mark.slow
def test_corrupt_upload_shows_error_and_app_keeps_working(app, model_folder):
    open_page(app, "models")
    broken = ("broken.pt", b"this is not a checkpoint", "application/octet-stream")
    app.file_uploader(key="models_upload").set_value(broken)
    app.run()  # said at once: neither this app's checkpoint nor a model to import, so no button to press
    assert_clean(app)
    assert "could not be read" in app.error[0].value
    assert not (model_folder / "broken.pt").exists()
    app.switch_page("pages/explore.py").run()
    assert_clean(app)


@pytest.mark.slow
def test_upload_classic_state_dict_then_delete(app, model_folder):
    open_page(app, "models")
    classic = ("classic vae.pt", classic_state_dict_bytes(), "application/octet-stream")
    app.file_uploader(key="models_upload").set_value(classic)
    app.run()
    assert app.text_input(key="models_upload_name").value == "classic vae"
    app.selectbox(key="import_dataset").set_value("none")  # not this app's format: the import form asks
    app.button(key="import_confirm").click().run()
    assert_clean(app)
    assert "classic-vae" in shown_text(app.success[0].value)
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


@pytest.mark.slow
def test_upload_needs_replace_for_an_existing_name(app, model_folder):
    open_page(app, "models")
    data = checkpoint_bytes(model_folder, MODEL_2D)
    app.file_uploader(key="models_upload").set_value((f"{MODEL_16D}.pt", data, "application/octet-stream"))
    app.run()
    app.button(key="models_add").click().run()
    assert "already exists" in app.error[0].value
    assert checkpoint_bytes(model_folder, MODEL_16D) != data


@pytest.mark.slow
def test_use_and_download_a_model(app, model_folder):
    open_page(app, "models")
    app.selectbox(key="models_choice").set_value(MODEL_16D).run()
    app.button(key="models_use").click().run()
    assert_clean(app)
    assert app.selectbox(key="sidebar_model").value == MODEL_16D
    assert app.query_params["model"] == MODEL_16D
    download = app.get("download_button")[0]
    assert download.proto.label == "Download"


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINT_MESSAGES))
def test_each_bad_checkpoint_upload_shows_its_error(app, model_folder, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in model_folder.iterdir())
    open_page(app, "models")
    upload = (f"{kind}.pt", make_bad_checkpoints(tmp_path)[kind], "application/octet-stream")
    app.file_uploader(key="models_upload").set_value(upload)
    app.run()
    if kind not in ("runs-code", "truncated"):  # those two are no checkpoint of this app: said at once, no button
        app.button(key="models_add").click().run()
    assert_clean(app)
    assert BAD_CHECKPOINT_MESSAGES[kind] in app.error[0].value
    assert sorted(p.name for p in model_folder.iterdir()) == before
    assert not (tmp_path / RAN_CODE_MARKER).exists()
    app.switch_page("pages/explore.py").run()
    assert_clean(app)
    assert latent_map(app)["count"] > 0


# ------------------------------------------------------------------ hostile files, the Models page, downloads (issue 11)


@pytest.mark.parametrize("kind", sorted(HOSTILE_MESSAGES))
def test_each_hostile_upload_is_refused_and_nothing_is_saved(own_folder, hostile_files, kind):
    with pytest.raises(vae.CheckpointError) as refused:
        model_upload.import_checkpoint(hostile_files[kind], kind)
    message = str(refused.value)
    assert HOSTILE_MESSAGES[kind] in message and str(own_folder.parent) not in message
    assert sorted(p.name for p in own_folder.iterdir()) == [f"{MODEL_2D}.pt", f"{MODEL_16D}.pt"]  # no temp left


def test_an_uploaded_checkpoint_is_an_ordinary_readable_file(own_folder):
    previous = os.umask(0o022)
    try:
        for name, data in (("ours", checkpoint_bytes(own_folder, MODEL_2D)), ("classic", classic_state_dict_bytes())):
            model_upload.import_checkpoint(data, name)
            assert stat.S_IMODE((own_folder / f"{name}.pt").stat().st_mode) == 0o644, name
    finally:
        os.umask(previous)
    assert (own_folder / "ours.pt").read_bytes() == checkpoint_bytes(own_folder, MODEL_2D)  # copied byte for byte


def unreadable_table(at: AppTest):
    """The Models page's table of files that cannot be opened, or None."""
    return next((frame.value for frame in at.dataframe if "Why it cannot be opened" in frame.value.columns), None)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["test-elbo-text", "metrics-list-of-pairs", "history-number", "infinite-layer"])
def test_a_hostile_file_in_the_folder_breaks_no_page_and_can_be_deleted(own_folder, hostile_files, kind):
    (own_folder / f"{kind}.pt").write_bytes(hostile_files[kind])
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert not at.error and latent_map(at)["count"] > 0
    assert at.selectbox(key="sidebar_model").options == [MODEL_2D, MODEL_16D]  # never offered as a model
    for page in ("interpolate", "models"):
        at.switch_page(f"pages/{page}.py").run()
        assert_clean(at)
        assert not at.error, [item.value for item in at.error]
    assert list(at.dataframe[0].value["Name"]) == [MODEL_2D, MODEL_16D]
    table = unreadable_table(at)
    assert list(table["File"]) == [f"{kind}.pt"] and HOSTILE_MESSAGES[kind] in table["Why it cannot be opened"][0]
    assert at.button(key="models_unreadable_delete").disabled
    at.checkbox(key="models_unreadable_confirm").check().run()
    at.button(key="models_unreadable_delete").click().run()
    assert_clean(at)
    assert not (own_folder / f"{kind}.pt").exists() and unreadable_table(at) is None
    assert sorted(p.name for p in own_folder.glob("*.pt")) == [f"{MODEL_2D}.pt", f"{MODEL_16D}.pt"]


@pytest.mark.slow
def test_the_models_page_follows_the_model_made_active_elsewhere(app):
    """After the sidebar made another model active, the page must not offer to delete the previous one."""
    open_page(app, "models")
    assert app.selectbox(key="models_choice").value == MODEL_2D
    app.checkbox(key="models_delete_confirm").check().run()
    app.selectbox(key="sidebar_model").set_value(MODEL_16D).run()
    assert_clean(app)
    assert app.selectbox(key="models_choice").value == MODEL_16D
    assert shown_text(app.checkbox(key="models_delete_confirm").label) == f"Yes, delete {MODEL_16D}"
    assert not app.checkbox(key="models_delete_confirm").value and app.button(key="models_delete").disabled


@pytest.mark.slow
def test_a_delete_tick_is_not_kept_for_another_model(app):
    open_page(app, "models")
    app.checkbox(key="models_delete_confirm").check().run()
    assert not app.button(key="models_delete").disabled
    app.selectbox(key="models_choice").set_value(MODEL_16D).run()
    assert not app.checkbox(key="models_delete_confirm").value and app.button(key="models_delete").disabled


@pytest.mark.slow
def test_an_imported_model_shows_its_test_elbo_as_not_measured(own_folder):
    model_upload.import_checkpoint(classic_state_dict_bytes(), "classic")
    at = open_page(AppTest.from_file(APP, default_timeout=TIMEOUT), "models")
    elbo = dict(zip(at.dataframe[0].value["Name"], at.dataframe[0].value["Test ELBO"]))
    assert elbo == {"classic": "not measured", MODEL_2D: "-50.0", MODEL_16D: "-50.0"}


@pytest.fixture
def no_downloads(monkeypatch, tmp_path) -> list[str]:
    """Record every torchvision download attempt (each fails, as offline) in an empty data folder."""
    import torchvision.datasets

    attempts = []

    def download(self) -> None:
        attempts.append(type(self).__name__)
        raise RuntimeError("offline")

    for name in ("MNIST", "FashionMNIST", "KMNIST"):
        monkeypatch.setattr(getattr(torchvision.datasets, name), "download", download)
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "data"))
    return attempts


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist", "kmnist"])
def test_a_model_of_a_downloadable_dataset_starts_no_download(own_folder, no_downloads, tmp_path, dataset):
    model = build_model(ModelConfig(image_shape=(28, 28), latent_dim=2, hidden_sizes=(8,)), seed=0)
    vae.save_checkpoint(own_folder / "uploaded.pt", model, dataset=dataset, class_names=DIGITS)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model_name"] = "uploaded"
    at.run()
    assert_clean(at)
    for page in ("reconstructions", "interpolate", "generate"):
        at.switch_page(f"pages/{page}.py").run()
        assert_clean(at)
    assert no_downloads == [] and not (tmp_path / "data").exists()
    at.switch_page("pages/explore.py").run()
    assert any("not on this machine yet" in item.value and "Train page" in item.value for item in at.info)


@pytest.mark.slow
def test_the_train_page_may_download_the_dataset_it_is_asked_for(no_downloads):
    with pytest.raises(vae.DataError, match="not on this machine yet"):
        datasets.load_dataset("mnist")
    assert no_downloads == []
    with pytest.raises(vae.DataError):
        datasets.load_dataset("mnist", _allow_download=True)
    assert no_downloads == ["MNIST"]


def test_stored_image_temps_a_killed_upload_left_are_removed_once_the_app_starts(tmp_path, monkeypatch):
    from vae.files import STALE_TEMP_AGE_S

    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path))
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    stale, fresh = uploads / ".pets.npz.k1ll3d.tmp", uploads / ".cats.npz.running.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half an upload")
    then = time.time() - STALE_TEMP_AGE_S - 60
    os.utime(stale, (then, then))
    model_access.remove_leftovers_once.clear()
    model_access.remove_leftovers_once()
    assert [path.name for path in uploads.iterdir()] == [fresh.name]


def test_a_model_that_cannot_be_written_gets_the_reason_and_no_server_path():
    """The Models page's upload and import say why a save failed (the disk), never where on the server."""
    from pages.common.errors import save_failed_words

    words = save_failed_words(OSError(28, "No space left on device", "/srv/app/checkpoints/x.pt"))
    assert "No space left on device" in words and "free space" in words and "/srv" not in words
    assert "a file error" in save_failed_words(OSError())
