"""AppTest of the Train, Generate and Reconstructions pages: controls, a real training run, messages."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import vae.data
from conftest import APP, app_reading, assert_shown_as_text, latent_map, open_page, shown_text
from vae.analysis import metrics
from vae.config import ModelConfig, TrainConfig
from vae.data import load_dataset
from vae.io.checkpoints import save_checkpoint
from vae.models import build_model
from vae.training import jobs

TRAIN_TIMEOUT_S = 180  # the run's own process imports torch first: seconds on a busy 2-core machine


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """Untrained digits models with 2-D and 20-D codes, and a 1-D one that names no dataset."""
    folder = tmp_path_factory.mktemp("checkpoints")
    digits = load_dataset("digits")
    for name, latent, dataset in (("flat", 2, "digits"), ("wide", 20, "digits"), ("line", 1, "")):
        model = build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=latent, hidden_sizes=(32,)), seed=0)
        save_checkpoint(folder / f"{name}.pt", model, dataset=dataset, class_names=digits.class_names,
                        metrics={"test_elbo": metrics.test_elbo(model, digits.test_images)})
    return folder


def texts(elements) -> str:
    """All values of some message elements as the user reads them, joined."""
    return " | ".join(shown_text(element.value) for element in elements)


def download_buttons(app: AppTest) -> list:
    return app.get("download_button")


def images(app: AppTest) -> list:
    return app.get("image")


# --------------------------------------------------------------------------- Train


@pytest.mark.slow
def test_train_page_runs_digits_for_one_epoch_and_offers_the_model(monkeypatch, tmp_path):
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("digits").run()
    app.selectbox(key="train_model").select("tiny-mlp").run()
    assert app.number_input(key="train_latent").value == 4  # follows the preset
    assert app.text_input(key="train_name").value == "digits-tiny-mlp"  # suggested name follows the choices
    app.number_input(key="train_epochs").set_value(1)
    app.text_input(key="train_name").input("My digits!").run()
    assert "my-digits.pt" in texts(app.caption).lower() or "My-digits.pt" in texts(app.caption)
    app.button(key="train_start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    job_id = app.session_state["train_job_id"]
    assert isinstance(job_id, str)

    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while not app.success and time.monotonic() < deadline:
        time.sleep(0.3)
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Training finished after 1 epochs" in texts(app.success), texts(app.error)
    assert (tmp_path / "My-digits.pt").is_file()
    assert app.text_input(key="train_name").value == "My-digits-2"  # moved on, so no "already exists" warning
    assert all("has not learned" in warning.value for warning in app.warning)  # only advice, no "already exists"
    fresh = AppTest.from_file(APP, default_timeout=30).run()  # the sidebar lists the new model
    assert "My-digits" in fresh.sidebar.selectbox(key="sidebar_model").options
    assert not app.button(key="train_start").disabled
    app.button(key="train_explore").click().run()
    assert app.session_state["model_name"] == "My-digits"


@pytest.mark.slow
def test_train_page_stop_button_stops_the_run(monkeypatch, tmp_path):
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("digits").run()
    app.number_input(key="train_epochs").set_value(500)
    app.number_input(key="train_batch").set_value(64).run()
    app.button(key="train_start").click().run()
    assert app.button(key="train_start").disabled  # one run per session at a time
    app.button(key="train_stop").click().run()
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while "stopped" not in texts(app.warning) + texts(app.error) and time.monotonic() < deadline:
        time.sleep(0.2)  # until the outcome shows: while the run stops, the name box warns that its name is in use
        app.run()
    assert "stopped" in texts(app.warning) + texts(app.error)


@pytest.mark.slow
def test_train_page_explains_bad_settings(monkeypatch, tmp_path):
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_model").select("Custom").run()
    app.text_input(key="train_hidden").input("400, lots").run()
    assert "not whole numbers" in texts(app.error)
    assert app.button(key="train_start").disabled
    app.text_input(key="train_hidden").input("256,128").run()
    assert not app.error and not app.button(key="train_start").disabled
    app.selectbox(key="train_kind").select("conv").run()
    app.text_input(key="train_channels").input("0").run()
    assert "between 1 and 4096" in texts(app.error)
    app.text_input(key="train_channels").input("16").run()
    app.text_input(key="train_name").input("???").run()
    assert "at least one letter or digit" in texts(app.error)
    assert app.button(key="train_start").disabled


@pytest.mark.slow
def test_train_page_suggests_a_free_name(monkeypatch, tmp_path):
    (tmp_path / "mnist-5k-classic-mlp.pt").write_bytes(b"taken")
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    assert app.text_input(key="train_name").value == "mnist-5k-classic-mlp-2"
    assert not app.warning


@pytest.mark.slow
def test_train_page_asks_before_replacing_a_model(monkeypatch, model_folder):
    app = open_page(app_reading(model_folder, monkeypatch), "train")
    app.text_input(key="train_name").input("flat").run()
    assert "already exists" in texts(app.warning)
    assert app.checkbox(key="train_overwrite").value is False


@pytest.mark.slow
def test_train_page_shows_the_offline_message_for_download_sets(monkeypatch, tmp_path):
    real = vae.data.load_torchvision
    monkeypatch.setattr(vae.data, "load_torchvision", lambda name, root, download: real(name, root, False))
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "data"))
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("fashion-mnist").run()
    assert not app.exception
    assert "offline" in texts(app.error) and "mnist-5k" in texts(app.error)
    assert app.button(key="train_start").disabled


def wait_until_finished(app: AppTest, job_id: str, timeout_s: float = TRAIN_TIMEOUT_S) -> AppTest:
    """Rerun ``app`` until the run has ended and the page has drawn its outcome."""
    job = jobs.get_job(job_id)
    assert job is not None and job.wait(timeout_s), "the run did not end in time"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def chart_spec(app: AppTest, key: str) -> dict:
    """The figure of the plotly chart with this key."""
    charts = [chart for chart in app.get("plotly_chart") if chart.key == key]
    assert len(charts) == 1, [chart.key for chart in app.get("plotly_chart")]
    return json.loads(charts[0].proto.spec)


def chart_colors(app: AppTest, key: str) -> dict[str, str]:
    """A plotly chart's legend name -> line colour."""
    return {trace["name"]: trace["line"]["color"] for trace in chart_spec(app, key)["data"]}


@pytest.mark.slow
def test_after_a_numbered_name_the_page_suggests_the_next_number_and_judges_the_model(monkeypatch, tmp_path):
    (tmp_path / "digits-classic-mlp.pt").write_bytes(b"taken")
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("digits").run()
    assert app.text_input(key="train_name").value == "digits-classic-mlp-2"
    app.number_input(key="train_epochs").set_value(1).run()
    app.button(key="train_start").click().run()
    wait_until_finished(app, app.session_state["train_job_id"])
    assert "Saved as digits-classic-mlp-2." in texts(app.success), texts(app.error)
    assert app.text_input(key="train_name").value == "digits-classic-mlp-3"  # not digits-classic-mlp-2-2
    note = texts(app.caption)
    assert "you just trained is `digits-classic-mlp-2`" in note and "now says `digits-classic-mlp-3`" in note

    # One epoch teaches this model nothing yet, and the page says so: measured here on the saved model.
    means = vae.load_model(tmp_path / "digits-classic-mlp-2.pt").encode(load_dataset("digits").test_images)[0]
    assert int((means.var(axis=0) > 0.01).sum()) < 2
    assert len(app.warning) == 1 and "has not learned to tell the pictures apart" in app.warning[0].value
    assert "this run had 1; try 20 or more" in app.warning[0].value

    # Both training charts: each quantity in one colour.
    per_epoch, per_batch = chart_colors(app, "train_curves"), chart_colors(app, "train_batch_curves")
    assert len(per_batch) == 3 and all(per_epoch[name] == color for name, color in per_batch.items())


@pytest.mark.slow
def test_a_model_that_learned_gets_a_success_and_no_warning(monkeypatch, tmp_path):
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("digits").run()
    app.number_input(key="train_latent").set_value(2)
    app.number_input(key="train_epochs").set_value(20).run()
    app.button(key="train_start").click().run()
    wait_until_finished(app, app.session_state["train_job_id"], timeout_s=4 * TRAIN_TIMEOUT_S)  # 20 epochs
    means = vae.load_model(tmp_path / "digits-classic-mlp.pt").encode(load_dataset("digits").test_images)[0]
    assert int((means.var(axis=0) > 0.01).sum()) == 2  # both code numbers vary: measured here
    assert "Training finished after 20 epochs" in texts(app.success) and not app.warning and not app.error


@pytest.mark.slow
def test_a_reload_during_training_shows_the_run_and_stop_works_from_there(monkeypatch, tmp_path):
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("digits").run()
    app.text_input(key="train_name").input("reloaded").run()
    app.number_input(key="train_epochs").set_value(500)
    app.number_input(key="train_batch").set_value(64).run()
    app.button(key="train_start").click().run()
    job_id = app.session_state["train_job_id"]
    assert app.query_params["job"] == job_id  # the link names the run

    reloaded = AppTest.from_file(APP, default_timeout=30)  # a reload: a new session with the same link
    reloaded.query_params["job"] = job_id
    reloaded.switch_page("pages/train.py").run()
    assert not reloaded.exception, [e.value for e in reloaded.exception]
    assert reloaded.get("progress") and "train_stop" in [button.key for button in reloaded.button]  # run and Stop
    assert reloaded.button(key="train_start").disabled
    assert reloaded.text_input(key="train_name").value != "reloaded"  # never suggests the name in training

    other = open_page(app_reading(tmp_path, monkeypatch), "train")  # another session, without the link
    assert not other.get("progress") and "job" not in other.query_params
    assert "train_stop" not in [button.key for button in other.button]
    other.text_input(key="train_name").input("reloaded").run()
    assert "being trained right now" in texts(other.warning) and other.button(key="train_start").disabled

    reloaded.button(key="train_stop").click().run()
    wait_until_finished(reloaded, job_id)
    assert jobs.get_job(job_id).snapshot().status == "cancelled"
    assert "stopped" in texts(reloaded.warning) + texts(reloaded.error)
    assert not reloaded.button(key="train_start").disabled


@pytest.mark.slow
def test_the_page_says_when_the_server_trains_as_many_models_as_it_may(monkeypatch, tmp_path):
    dataset = load_dataset("digits")
    small = ModelConfig(kind="mlp", latent_dim=2, hidden_sizes=(8,))
    running = [jobs.start_job(f"busy-{number}", dataset, small, TrainConfig(epochs=10_000), tmp_path)
               for number in range(jobs.MAX_RUNNING_JOBS)]
    try:
        app = open_page(app_reading(tmp_path, monkeypatch), "train")
        assert f"training {jobs.MAX_RUNNING_JOBS} models right now" in texts(app.info)
        app.button(key="train_start").click().run()
        assert f"at most {jobs.MAX_RUNNING_JOBS} models at once" in texts(app.error)
        assert "train_job_id" not in app.session_state and len(jobs.running_jobs()) == jobs.MAX_RUNNING_JOBS
    finally:
        for job_id in running:
            jobs.get_job(job_id).cancel()
            assert jobs.get_job(job_id).wait(TRAIN_TIMEOUT_S)


def map_points(app: AppTest) -> np.ndarray:
    """The (N, 2) test-image dots of the Train page's live map (the canvas map component), in test-image order."""
    return latent_map(app)["points"].astype(np.float64)


def run_between_same_previews(app: AppTest, job_id: str, tries: int = 20) -> jobs.JobSnapshot:
    """Rerun the page until no epoch ended while it ran; the previews it then showed are those of the snapshot returned.

    The run keeps training meanwhile: a snapshot read before the page ran may be an epoch older than what it shows.
    """
    for _ in range(tries):
        before = jobs.get_job(job_id).snapshot()
        app.run()
        after = jobs.get_job(job_id).snapshot()
        if after.preview_epoch == before.preview_epoch:
            return after
    raise AssertionError("an epoch ended during every run of the page")


def wait_for_epochs(job_id: str, count: int) -> jobs.JobSnapshot:
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        snapshot = jobs.get_job(job_id).snapshot()
        if snapshot.preview_epoch >= count:
            return snapshot
        time.sleep(0.1)
    raise AssertionError(f"epoch {count} not reached in time")


@pytest.mark.slow
def test_while_it_trains_the_page_shows_the_test_images_map_in_a_fixed_frame_and_64_samples(monkeypatch, tmp_path,
                                                                                            media):
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("digits").run()
    app.number_input(key="train_latent").set_value(2)
    app.number_input(key="train_epochs").set_value(500)
    app.number_input(key="train_batch").set_value(2).run()  # slow epochs: a page run fits between two
    app.button(key="train_start").click().run()
    job_id = app.session_state["train_job_id"]
    try:
        wait_for_epochs(job_id, 1)
        first = run_between_same_previews(app, job_id)
        shown_map = latent_map(app)
        frame = (shown_map["x_range"], shown_map["y_range"])
        assert frame == ([-4.0, 4.0], [-4.0, 4.0])
        assert shown_map["view_only"] and shown_map["marker"] is None  # looked at: nothing to choose on it
        shown = map_points(app)
        assert len(shown) == len(load_dataset("digits").test_images)  # every test image (under 1,000)
        np.testing.assert_array_equal(shown, np.clip(first.map_points, -4, 4).astype(np.float32))
        np.testing.assert_array_equal(shown_map["label_array"], first.map_labels)
        captions = texts(app.caption) + " | ".join(image.proto.imgs[0].caption for image in images(app))
        assert "64 pictures the model draws from random codes" in captions and "stays the same" in captions
        sample_grid = [image for image in images(app) if "64 pictures" in image.proto.imgs[0].caption]
        picture = Image.open(io.BytesIO(media.image(sample_grid[0].proto.imgs[0])[0]))
        assert picture.size[0] % (8 * 9 - 1) == 0 and picture.size[0] == picture.size[1]  # 8 x 8 tiles of 8x8, 1 px apart

        wait_for_epochs(job_id, first.preview_epoch + 1)
        app.run()
        later = latent_map(app)
        assert (later["x_range"], later["y_range"]) == frame  # the frame does not move...
        assert not np.array_equal(map_points(app), shown)  # ...the codes do
        assert "train_stop" in [button.key for button in app.button]  # still running
    finally:
        jobs.get_job(job_id).cancel()
        jobs.get_job(job_id).wait(TRAIN_TIMEOUT_S)


@pytest.mark.slow
def test_a_run_whose_process_is_gone_is_shown_as_interrupted(monkeypatch, tmp_path):
    from vae.training import progress

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    state = progress.new_state("ab" * 16, "lost-run", "digits", {}, 10)
    state.update(pid=ended.pid, epoch=3, curves={"train_loss": [30.0, 28.0], "recon": [29.0, 27.0], "kl": [1.0, 1.0],
                                                "test_elbo": [-31.0, -29.0]})
    progress.write_state(tmp_path, state)  # as the training process left it when the server went down
    app = app_reading(tmp_path, monkeypatch)
    app.query_params["job"] = state["job_id"]
    open_page(app, "train")
    assert "ended without finishing" in texts(app.error) and "start it again" in texts(app.error)
    assert "train_stop" not in [button.key for button in app.button] and not app.button(key="train_start").disabled
    assert chart_spec(app, "train_curves")  # the curves it reached stay in view
    assert app.query_params["job"] == state["job_id"]


# --------------------------------------------------------------------------- Train: the user's own images


def png_bytes(size: tuple[int, int], value: int | tuple[int, int, int], mode: str = "L") -> bytes:
    """A uniform PNG of PIL size (W, H)."""
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A deflated zip with these entry names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def bomb_bytes() -> bytes:
    """A real zip bomb: about 0.5 MB that unpacks to 528 MB of zeros, past MAX_UNCOMPRESSED_BYTES."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("cats/1.png", png_bytes((8, 8), 9))
        with archive.open("cats/big.png", "w", force_zip64=True) as member:
            for _ in range(33):
                member.write(bytes(16 * 1024**2))
    return buffer.getvalue()


UPLOAD_CHOICE = "upload-new"  # value of the "Upload your own images…" entry (pages/common/train_choices.py)
EIGHT = np.zeros((4, 8, 8), dtype=np.float32)
# id: (file name, bytes maker, words the error must contain besides the file name)
BAD_UPLOADS = {
    "path-traversal": ("sneaky.zip", lambda: zip_bytes({"cats/1.png": png_bytes((8, 8), 9),
                                                        "../evil.png": png_bytes((8, 8), 9)}), ["evil.png", "outside"]),
    "zip-bomb": ("bomb.zip", bomb_bytes, ["limit"]),
    "not-an-image": ("mixed.zip", lambda: zip_bytes({"cats/1.png": png_bytes((8, 8), 9), "cats/notes.txt": b"hi"}),
                     ["notes.txt", "not an image"]),
    "nan": ("nan.npz", lambda: npz_bytes(images=np.where(np.eye(8, dtype=bool), np.nan, EIGHT)), ["NaN"]),
    "inf": ("inf.npz", lambda: npz_bytes(images=np.where(np.eye(8, dtype=bool), np.inf, EIGHT)), ["infinite"]),
    "labels-wrong-length": ("labelled.npz", lambda: npz_bytes(images=EIGHT, labels=np.array([0, 1, 0])),
                            ["labels", "one label per image"]),
    "corrupt-zip": ("corrupt.zip", lambda: b"PK\x03\x04 this is not really a zip", ["not a readable zip"]),
    "pixel-bomb": ("blank.zip", lambda: blank_pngs_zip(1025),  # one 256x256 image more than the pixel limit
                   ["1,025 images of 256x256 pixels", f"the limit is {vae.data.MAX_UPLOAD_PIXELS:,} pixels"]),
    "colour-pixel-bomb": ("colours.zip", lambda: blank_pngs_zip(342, "RGB"),  # a colour pixel counts 3: one too many
                          ["342 colour images of 256x256 pixels", f"the limit is {vae.data.MAX_UPLOAD_PIXELS:,} pixel "
                                                                  f"values", "turn them grey"]),
    "label-bomb": ("classes.npz", lambda: npz_bytes(images=np.zeros((202, 4, 4), np.uint8),
                                                    labels=np.arange(202) % 101),  # 101 different labels
                   ["101 different labels", f"the limit is {vae.data.MAX_CLASSES} classes"]),
    "hostile-file-name": ("![pic](x.test.png) [a](www.x.test).zip", lambda: b"PK\x03\x04 no zip",
                          ["not a readable zip"]),
}


def blank_pngs_zip(count: int, mode: str = "L") -> bytes:
    """``count`` identical blank 256x256 PNGs, grey or RGB, in one class folder (about 200 bytes each once zipped)."""
    blank = png_bytes((256, 256), (255,) * len(mode), mode=mode)
    return zip_bytes({f"blank/{index}.png": blank for index in range(count)})


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def scratch_folders() -> set[Path]:
    """The page's temporary upload folders (each is deleted after use)."""
    return set(Path(tempfile.gettempdir()).glob("vae-upload-*"))


def open_upload_form(monkeypatch, tmp_path: Path) -> AppTest:
    """The Train page with models in tmp_path, data in tmp_path/data, and the uploader open."""
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "data"))
    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    assert app.selectbox(key="train_dataset").options[-1] == "Upload your own images…"
    app.selectbox(key="train_dataset").select(UPLOAD_CHOICE).run()
    assert app.button(key="train_upload_add").disabled  # nothing chosen yet
    assert "one folder per kind of picture" in texts(app.markdown)
    assert f"{vae.data.MAX_UPLOAD_PIXELS:,} pixels in all" in texts(app.markdown)  # the limits, said up front
    assert "200 MB" in app.file_uploader(key="train_upload").help
    return app


def upload(app: AppTest, file_name: str, content: bytes, name: str | None = None) -> AppTest:
    """Choose a file in the uploader, optionally name it, and press 'Add these images'."""
    mime = "application/zip" if file_name.endswith(".zip") else "application/octet-stream"
    app.file_uploader(key="train_upload").set_value((file_name, content, mime)).run()
    if name is not None:
        app.text_input(key="train_upload_name").input(name).run()
    app.button(key="train_upload_add").click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_train_page_refuses_bad_uploads_and_writes_nothing(monkeypatch, tmp_path, case):
    file_name, make_bytes, words = BAD_UPLOADS[case]
    content = make_bytes()
    app = open_upload_form(monkeypatch, tmp_path)
    before, scratch_before = files_under(tmp_path), scratch_folders()
    upload(app, file_name, content)
    message = texts(app.error)
    assert file_name in message and all(word in message for word in words), message
    assert_shown_as_text(app.error[0].value, file_name)
    assert not app.success
    assert files_under(tmp_path) == before and not (tmp_path / "data").exists()
    assert not (tmp_path.parent / "evil.png").exists()
    assert scratch_folders() <= scratch_before  # the temporary copy of the upload is gone
    assert app.selectbox(key="train_dataset").value == UPLOAD_CHOICE
    assert app.button(key="train_start").disabled


@pytest.mark.slow
def test_train_page_refuses_a_nameless_upload(monkeypatch, tmp_path):
    app = open_upload_form(monkeypatch, tmp_path)
    before = files_under(tmp_path)
    upload(app, "pets.zip", zip_bytes({"a/1.png": png_bytes((8, 8), 9), "b/1.png": png_bytes((8, 8), 9)}), "???")
    assert "at least one letter or digit" in texts(app.error)
    assert files_under(tmp_path) == before


def pets_zip_bytes() -> bytes:
    """20 tiny images in two classes: mostly 8x8 grey, one 12x10 and one 6x6 colour image."""
    entries = {f"cats/{index:02d}.png": png_bytes((8, 8), 200) for index in range(9)}
    entries["cats/red.png"] = png_bytes((12, 10), (255, 0, 0), mode="RGB")
    entries.update({f"dogs/{index:02d}.png": png_bytes((8, 8), 40) for index in range(9)})
    entries["dogs/small.png"] = png_bytes((6, 6), (0, 0, 255), mode="RGB")
    return zip_bytes(entries)


@pytest.mark.slow
def test_train_page_adds_uploaded_images_trains_on_them_and_shows_the_map(monkeypatch, tmp_path):
    app = open_upload_form(monkeypatch, tmp_path)
    upload(app, "pets.zip", pets_zip_bytes())
    assert not app.error, texts(app.error)
    success = texts(app.success)
    assert "20 images" in success and "2 classes" in success and "8x8" in success, success
    assert "Your upload: pets" in success  # named after the file
    assert app.selectbox(key="train_dataset").value == "upload:pets"
    assert "Your upload: pets" in app.selectbox(key="train_dataset").options
    stored = tmp_path / "data" / "uploads" / "pets.npz"
    with np.load(stored, allow_pickle=False) as archive:
        assert archive["images"].shape == (20, 8, 8, 3) and archive["images"].dtype == np.uint8  # one size, colour
        corners = {tuple(int(v) for v in image[0, 0]) for image in archive["images"]}
        assert corners == {(200, 200, 200), (40, 40, 40), (255, 0, 0), (0, 0, 255)}  # grey stays grey, red stays red
    assert "16 training and 4 test images of 8x8 pixels in colour in 2 classes" in texts(app.caption)

    app.selectbox(key="train_model").select("tiny-mlp").run()
    assert app.text_input(key="train_name").value == "pets-tiny-mlp"
    app.number_input(key="train_epochs").set_value(1).run()
    app.button(key="train_start").click().run()
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while not app.success and time.monotonic() < deadline:
        time.sleep(0.3)
        app.run()
    assert "Training finished after 1 epochs" in texts(app.success), texts(app.error)
    assert vae.load_model(tmp_path / "pets-tiny-mlp.pt").dataset == "upload:pets"

    app.button(key="train_explore").click().run()
    assert not app.exception and not app.error, texts(app.error)
    shown = latent_map(app)
    assert shown["class_names"] == ["cats", "dogs"] and shown["count"] == 4  # the 4 test images of the upload


@pytest.mark.slow
def test_train_page_renumbers_sparse_labels_into_few_classes(monkeypatch, tmp_path):
    # One label of 70,000 once made 70,001 classes (the Latent space page then took 86 s).
    app = open_upload_form(monkeypatch, tmp_path)
    labels = np.array([0, 70000] * 5)
    upload(app, "sparse.npz", npz_bytes(images=np.zeros((10, 8, 8), np.uint8), labels=labels))
    assert not app.error, texts(app.error)
    assert "10 images in 2 classes" in texts(app.success), texts(app.success)
    assert "in 2 classes" in texts(app.caption)
    with np.load(tmp_path / "data" / "uploads" / "sparse.npz", allow_pickle=False) as archive:
        assert archive["labels"].tolist() == [0, 1] * 5 and archive["class_names"].tolist() == ["0", "70000"]


@pytest.mark.slow
def test_train_page_lists_stored_uploads_and_warns_before_replacing(monkeypatch, tmp_path):
    app = open_upload_form(monkeypatch, tmp_path)
    upload(app, "pets.zip", pets_zip_bytes(), name="my pets")
    assert app.selectbox(key="train_dataset").value == "upload:my-pets"
    fresh = open_page(app_reading(tmp_path, monkeypatch), "train")
    assert "Your upload: my-pets" in fresh.selectbox(key="train_dataset").options
    fresh.selectbox(key="train_dataset").select(UPLOAD_CHOICE).run()
    fresh.file_uploader(key="train_upload").set_value(("pets.zip", pets_zip_bytes(), "application/zip")).run()
    assert fresh.text_input(key="train_upload_name").value == "pets"
    fresh.text_input(key="train_upload_name").input("my-pets").run()
    assert "replaces them" in texts(fresh.warning)


# --------------------------------------------------------------------------- Generate


@pytest.mark.slow
def test_generate_page_for_a_2d_model(monkeypatch, model_folder):
    app = open_page(app_reading(model_folder, monkeypatch), "generate", "flat")
    assert len(images(app)) == 2 and len(download_buttons(app)) == 4  # the grid and the walk are labelled charts
    assert "gen_plane" not in [radio.key for radio in app.radio]  # a 2-D model is its own plane
    app.slider(key="gen_side").set_value(5)
    app.slider(key="gen_temperature").set_value(0.5)
    app.radio(key="gen_map_spacing").set_value("range").run()
    app.slider(key="gen_map_range").set_value(2.0)
    app.number_input(key="gen_seed").set_value(7).run()
    assert not app.exception and not app.error
    assert len(images(app)) == 2 and len(app.get("plotly_chart")) == 3  # grid, walk, KL per code number


@pytest.mark.slow
def test_generate_page_for_a_20d_model_explains_the_slice(monkeypatch, model_folder):
    app = open_page(app_reading(model_folder, monkeypatch), "generate", "wide")
    assert "20 numbers" in texts(app.caption)
    assert len(app.multiselect(key="gen_traverse_dims").value) == 16
    app.radio(key="gen_plane").set_value("dims").run()
    assert "z1 and z2" in texts(app.caption)
    app.multiselect(key="gen_traverse_dims").set_value([0, 19]).run()
    assert not app.exception and not app.error and len(download_buttons(app)) == 4


def test_generate_page_for_a_1d_model_without_dataset(monkeypatch, model_folder):
    app = open_page(app_reading(model_folder, monkeypatch), "generate", "line")
    assert "single number" in texts(app.caption)
    assert len(images(app)) == 2 and not app.error and not app.multiselect


# --------------------------------------------------------------------------- Reconstructions


@pytest.mark.slow
def test_reconstructions_page_shows_pairs_and_metrics(monkeypatch, model_folder):
    app = open_page(app_reading(model_folder, monkeypatch), "reconstructions", "flat")
    assert len(images(app)) == 12
    assert "error" in images(app)[0].captions[0].lower()
    app.slider(key="recon_count").set_value(4)
    app.selectbox(key="recon_class").select(3).run()
    assert not app.exception and len(images(app)) == 4
    assert len(download_buttons(app)) == 1 and not app.metric
    app.button(key="recon_metrics_button").click().run()
    assert not app.exception and not app.error
    labels = [metric.label for metric in app.metric]
    assert labels == ["Test ELBO", "NLL estimate", "kNN accuracy", "Active units", "ELBO − NLL gap", "Entropy floor",
                      "Above the floor"]  # a Bernoulli model on grey digits: the floor and how far above it
    assert app.metric[3].value.endswith("of 2")
    app.run()  # the numbers stay on screen for this model without clicking again
    assert len(app.metric) == 7


@pytest.mark.slow
def test_reconstructions_page_explains_a_model_without_dataset(monkeypatch, model_folder):
    app = open_page(app_reading(model_folder, monkeypatch), "reconstructions", "line")
    assert "does not say which images" in texts(app.error)
    assert not images(app)
    app.button(key="recon_metrics_button").click().run()
    assert not app.exception and "does not say which images" in texts(app.error)
