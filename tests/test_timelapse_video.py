"""The training time-lapse as a film: GIF and MP4 decoded independently (Pillow, PyAV), dots in the fixed frame."""
from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image, ImageColor

from vae import timelapse_video as video
from vae.io.timelapse import build_timelapse, read_timelapse
from vae.plots import class_color

NAMES = ("zero", "one")
STILL, START, END = (0.0, 0.0), (-1.13, -0.87), (1.27, 0.71)  # class 0 stays put; class 1 moves (off the grid lines)


def moving_timelapse(epochs: int = 3):
    """Two classes of 20 test images each: class 0 stays at STILL, class 1 walks from START to END."""
    labels = np.repeat([0, 1], 20)
    frames = []
    for step in range(epochs):
        share = step / max(epochs - 1, 1)
        spot = np.add(START, share * np.subtract(END, START))
        frames.append(np.where(labels[:, None] == 0, STILL, spot).astype(np.float32))
    return build_timelapse(list(range(1, epochs + 1)), frames, labels, NAMES, "digits")


def expected_frame(timelapse) -> tuple[float, float, float, float]:
    """The one frame, computed here: the 0.5..99.5th percentile of every epoch's positions, 10% margin, holding 0."""
    bounds = []
    for axis in range(2):
        values = timelapse.points[..., axis].ravel().astype(np.float64)
        low, high = np.percentile(values, [0.5, 99.5])
        low, high = min(0.0, low - 0.1 * (high - low)), max(0.0, high + 0.1 * (high - low))
        bounds += [low, high]
    return tuple(bounds)


def pixel_of(spot, frame) -> tuple[int, int]:
    """Where a plane position lands in a film frame (the plot square's place is the film's layout)."""
    x_min, x_max, y_min, y_max = frame
    x = video.PLOT_LEFT + (spot[0] - x_min) / (x_max - x_min) * video.PLOT_SIZE
    y = video.PLOT_TOP + (y_max - spot[1]) / (y_max - y_min) * video.PLOT_SIZE
    return int(round(x)), int(round(y))


def colour_at(picture: np.ndarray, pixel: tuple[int, int]) -> np.ndarray:
    """The mean colour of the 3 x 3 pixels around ``pixel`` (inside a dot of radius 4)."""
    x, y = pixel
    return picture[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(axis=0)


def near(colour: np.ndarray, rgb, tolerance: float) -> bool:
    return float(np.abs(colour - np.asarray(rgb, np.float64)).max()) <= tolerance


def gif_frames(data: bytes) -> list[np.ndarray]:
    with Image.open(io.BytesIO(data)) as gif:
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
        return frames


def mp4_frames(data: bytes) -> tuple[list[np.ndarray], str]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)], stream.codec_context.name


def test_the_film_uses_the_timelapses_one_frame_computed_independently():
    timelapse = moving_timelapse()
    np.testing.assert_allclose(timelapse.frame, expected_frame(timelapse), atol=1e-6)


def test_gif_has_one_frame_per_epoch_at_slide_size_and_holds_the_last():
    timelapse = moving_timelapse(3)
    data = video.timelapse_gif(timelapse, "my-model")
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3 and gif.size == (video.FRAME_WIDTH, video.FRAME_HEIGHT)
        assert gif.size[1] >= 720 and gif.info.get("loop") == 0
        gif.seek(2)
        assert gif.info["duration"] == video.HOLD_SECONDS * 1000


@pytest.mark.slow
def test_gif_dots_sit_where_their_codes_are_and_move_only_where_the_codes_moved():
    timelapse = moving_timelapse(3)
    first, middle, last = gif_frames(video.timelapse_gif(timelapse, "my-model"))
    frame = expected_frame(timelapse)
    still, start, end = (pixel_of(spot, frame) for spot in (STILL, START, END))
    zero, one = (ImageColor.getrgb(class_color(label)) for label in (0, 1))
    white = (255, 255, 255)
    assert near(colour_at(first, start), one, 0) and near(colour_at(first, end), white, 0)
    assert near(colour_at(last, end), one, 0) and near(colour_at(last, start), white, 0)
    for picture in (first, middle, last):  # the still class is drawn at the same pixels in every frame
        assert near(colour_at(picture, still), zero, 0)
    moved = np.abs(first.astype(int) - last.astype(int)).max(axis=2) > 0
    assert moved[start[1], start[0]] and moved[end[1], end[0]] and not moved[still[1], still[0]]


@pytest.mark.slow
def test_mp4_is_h264_with_one_frame_per_epoch_plus_the_held_last_one():
    timelapse = moving_timelapse(3)
    frames, codec = mp4_frames(video.timelapse_mp4(timelapse, "my-model"))
    fps = video.frames_per_second(3)
    assert codec == "h264" and len(frames) == 3 + round(video.HOLD_SECONDS * fps)
    assert frames[0].shape == (video.FRAME_HEIGHT, video.FRAME_WIDTH, 3)
    frame = expected_frame(timelapse)
    start, end = pixel_of(START, frame), pixel_of(END, frame)
    one = ImageColor.getrgb(class_color(1))
    assert near(colour_at(frames[0], start), one, 40) and near(colour_at(frames[0], end), (255, 255, 255), 40)
    assert near(colour_at(frames[-1], end), one, 40) and near(colour_at(frames[-1], start), (255, 255, 255), 40)
    assert all(np.abs(held.astype(int) - frames[-1].astype(int)).mean() < 2 for held in frames[2:])


def test_a_single_epoch_gives_a_one_frame_gif():
    data = video.timelapse_gif(moving_timelapse(1), "one-epoch")
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 1 and gif.size == (video.FRAME_WIDTH, video.FRAME_HEIGHT)


def test_long_runs_show_at_most_max_film_frames_first_and_last_kept():
    shown = video.film_epochs(np.arange(1, 201))
    assert len(shown) == video.MAX_FILM_FRAMES and shown[0] == 0 and shown[-1] == 199
    assert np.all(np.diff(shown) > 0)
    assert video.film_epochs(np.arange(1, 31)).tolist() == list(range(30))


def test_playback_takes_about_the_target_time_within_the_rate_limits():
    assert video.frames_per_second(3) == video.MIN_FPS
    assert video.frames_per_second(80) == 10  # 80 epochs in the 8 s target
    assert video.frames_per_second(10_000) == video.MAX_FPS


def test_points_off_the_frame_are_drawn_on_its_edge_not_outside():
    pixels = video.to_pixels(np.array([[-1e6, 1e6], [np.nan, 0.0]]), (-1.0, 1.0, -1.0, 1.0))
    assert pixels[0].tolist() == [video.PLOT_LEFT, video.PLOT_TOP]
    assert pixels[1][0] == video.PLOT_LEFT + video.PLOT_SIZE / 2


def test_any_model_name_is_drawn_as_plain_text_without_failing():
    name = "<b>a</b> [x](http://e.com) " + "very long name " * 20 + "\n\u202e😀"
    picture = video.render_frame(moving_timelapse(2), 0, name)
    assert picture.shape == (video.FRAME_HEIGHT, video.FRAME_WIDTH, 3)
    assert (picture[:60, : video.FRAME_WIDTH // 2] != 255).any()  # the name is written at the top left


def test_many_classes_keep_one_colour_each_and_a_bounded_legend():
    labels = np.arange(40) % 30
    frames = [np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)]
    timelapse = build_timelapse([1], frames, labels, tuple(f"c{k}" for k in range(30)), "x")
    picture = video.render_frame(timelapse, 0, "m")
    assert picture.shape == (video.FRAME_HEIGHT, video.FRAME_WIDTH, 3)
    data = video.timelapse_gif(timelapse, "m")
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 1


@pytest.mark.slow
def test_a_trained_models_saved_timelapse_becomes_a_film_with_every_epoch(tmp_path):
    from vae.config import ModelConfig, TrainConfig
    from vae.data import load_dataset
    from vae.training.run import run_training

    config = ModelConfig(kind="mlp", latent_dim=3, hidden_sizes=(32,))  # above 2 dims: the PCA plane
    run_training(load_dataset("digits"), config, TrainConfig(epochs=3, batch_size=128, seed=0), tmp_path / "m.pt")
    timelapse = read_timelapse(tmp_path / "m.pt")
    with Image.open(io.BytesIO(video.timelapse_gif(timelapse, "m"))) as gif:
        assert gif.n_frames == 3
    frames, _ = mp4_frames(video.timelapse_mp4(timelapse, "m"))
    assert len(frames) == 3 + video.hold_frames(video.frames_per_second(3))
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).max() > 0  # the codes moved between epochs


@pytest.mark.slow
def test_the_film_needs_no_torch():
    import subprocess
    import sys
    from pathlib import Path

    script = ("import sys, numpy as np\n"
              "from vae.io.timelapse import build_timelapse\n"
              "from vae import timelapse_video as video\n"
              "t = build_timelapse([1, 2], [np.zeros((4, 2)), np.ones((4, 2))], np.arange(4), ('a', 'b'), 'x')\n"
              "video.timelapse_gif(t, 'm'); video.timelapse_mp4(t, 'm')\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\n")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
