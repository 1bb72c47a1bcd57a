"""AppTest: the Latent space page's training time-lapse (player and GIF/MP4 downloads), with and without one."""
from __future__ import annotations

import base64
import io
import json
import shutil

import av
import numpy as np
import pytest
from PIL import Image

import vae
from conftest import MODEL_2D, MODEL_16D, app_reading, assert_clean, open_page, page_text, write_growing_timelapse
from pages.common import timelapse_view
from vae.files import timelapse_path

EPOCHS = [1, 2, 4]  # recorded epochs (a long run keeps every k-th: they need not be consecutive)


@pytest.fixture(scope="module")
def model_folder(model_folder):
    """The shared models; the 2-D one gets a time-lapse whose codes grow from a tenth of its final codes to them."""
    write_growing_timelapse(model_folder / f"{MODEL_2D}.pt", EPOCHS)
    return model_folder


def players(at) -> list:
    return [element for element in at.get("bidi_component")
            if element.proto.component_name == timelapse_view.COMPONENT_NAME]


def download(at, key: str):
    return next((button for button in at.get("download_button") if button.proto.id.endswith(f"-{key}")), None)


def decoded_positions(data: dict) -> np.ndarray:
    """The player's (F, N, 2) positions back on the plane (independently of the page's encoder)."""
    steps = np.frombuffer(base64.b64decode(data["points"]), dtype="<u2").astype(np.float64)
    steps = steps.reshape(len(data["epochs"]), data["count"], 2) / 65535
    (x_min, x_max), (y_min, y_max) = data["x_range"], data["y_range"]
    return np.stack([x_min + steps[..., 0] * (x_max - x_min), y_min + steps[..., 1] * (y_max - y_min)], axis=-1)


@pytest.mark.slow
def test_the_player_gets_every_recorded_epoch_in_one_fixed_frame(app, model_folder):
    open_page(app, "explore", MODEL_2D)
    (player,) = players(app)
    data = json.loads(player.proto.json)
    saved = vae.read_timelapse(model_folder / f"{MODEL_2D}.pt")
    assert data["epochs"] == EPOCHS and data["count"] == len(saved.labels)
    assert [*data["x_range"], *data["y_range"]] == list(saved.frame)
    x_min, x_max, y_min, y_max = saved.frame
    expected = np.clip(saved.points, [x_min, y_min], [x_max, y_max])  # outliers sit on the frame's edge
    np.testing.assert_allclose(decoded_positions(data), expected, atol=(x_max - x_min) / 65535 + 1e-6)
    labels = np.frombuffer(base64.b64decode(data["labels"]), dtype="<u2")
    np.testing.assert_array_equal(labels, saved.labels)
    assert data["class_names"] == [str(d) for d in range(10)] and data["axis_titles"] == ["z1", "z2"]
    assert "press play or drag the slider" in page_text(app)


@pytest.mark.slow
def test_the_downloads_are_a_gif_and_an_mp4_with_one_frame_per_epoch(app, media):
    open_page(app, "explore", MODEL_2D)
    gif, mimetype = media.download(download(app, timelapse_view.GIF_KEY))
    assert mimetype == "image/gif"
    with Image.open(io.BytesIO(gif)) as picture:
        assert picture.n_frames == len(EPOCHS) and picture.size[1] >= 720
    mp4, mimetype = media.download(download(app, timelapse_view.MP4_KEY))
    assert mimetype == "video/mp4"
    with av.open(io.BytesIO(mp4)) as container:
        frames = list(container.decode(video=0))
    fps = vae.timelapse_video.frames_per_second(len(EPOCHS))
    assert len(frames) == len(EPOCHS) + vae.timelapse_video.hold_frames(fps) and frames[0].height >= 720


@pytest.mark.slow
def test_a_model_without_a_timelapse_says_why_in_one_line(app):
    open_page(app, "explore", MODEL_16D)
    assert not players(app) and download(app, timelapse_view.GIF_KEY) is None
    assert download(app, timelapse_view.MP4_KEY) is None
    assert "trained before the app recorded one, or it was imported" in page_text(app)
    assert not app.error


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "other checkpoint"])
def test_a_damaged_or_stale_timelapse_is_ignored_with_a_plain_line(model_folder, tmp_path, monkeypatch, damage):
    folder = tmp_path / "models"
    shutil.copytree(model_folder, folder)
    sidecar = timelapse_path(folder / f"{MODEL_2D}.pt")
    if damage == "garbage":
        sidecar.write_bytes(b"PK\x03\x04 not really a zip")
    else:  # the 16-D model's time-lapse under the 2-D model's name: it records another checkpoint's SHA-256
        shutil.copy(sidecar, timelapse_path(folder / f"{MODEL_16D}.pt"))
        sidecar = timelapse_path(folder / f"{MODEL_16D}.pt")
    at = app_reading(folder, monkeypatch)
    open_page(at, "explore", sidecar.name.removesuffix(".timelapse.npz"))
    assert_clean(at)
    assert not players(at) and download(at, timelapse_view.GIF_KEY) is None and not at.error
    assert "its file is damaged, or the model file changed after training" in page_text(at)


@pytest.mark.slow
def test_a_model_above_two_dims_plays_on_the_final_codes_pca_plane(model_folder, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    shutil.copytree(model_folder, folder)
    write_growing_timelapse(folder / f"{MODEL_16D}.pt", EPOCHS)
    saved = vae.read_timelapse(folder / f"{MODEL_16D}.pt")
    at = app_reading(folder, monkeypatch)
    open_page(at, "explore", MODEL_16D)
    (player,) = players(at)
    data = json.loads(player.proto.json)
    assert data["axis_titles"] == list(saved.projection.labels) and data["epochs"] == EPOCHS
    final = saved.codes[-1] - saved.codes[-1].mean(axis=0)  # the plane fits the last epoch: its main directions
    top_two = np.linalg.svd(final, full_matrices=False)[2][:2]
    np.testing.assert_allclose(np.abs(saved.projection.axes @ top_two.T), np.eye(2), atol=1e-3)
    assert "the final codes' two main directions (PCA)" in page_text(at)
