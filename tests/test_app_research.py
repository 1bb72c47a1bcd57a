"""AppTest of the research views off the map (issue 15): the KL per code number with KL-ordered traversals, the
checks along an interpolation path, the Reconstructions page's likelihood sort, error maps and several codes per
picture, and honest likelihoods (the entropy floor, the ELBO-NLL gap, k up to 5,000). What the pages show is checked
against numbers computed here independently: closed forms in numpy, brute-force distances and densities (scipy),
and the unbatched NLL of vae.analysis.metrics."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

import vae
from conftest import DIGITS, app_reading, assert_clean, open_page, page_text, spread_codes
from vae.analysis.metrics import importance_sampled_nll
from vae.config import ModelConfig
from vae.data import load_dataset
from vae.models import build_model

pytestmark = [pytest.mark.usefixtures("navigation_mode"), pytest.mark.slow]  # every test here runs the app
FOUR_D, TIGHT_2D, CB_2D = "lens-4d", "lens-tight-2d", "lens-cb-2d"
DEAD_DIMS = (1, 3)  # the 4-D model's code numbers z2 and z4 give the prior for every picture: unused
CODE_CENTRE = (1.0, 0.0)  # the tight model's codes crowd here, so the prior's middle elsewhere is a hole


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A 4-D MLP with two dead dims, a 2-D MLP whose codes crowd near (1, 0), and a continuous Bernoulli one."""
    folder = tmp_path_factory.mktemp("checkpoints")
    images = load_dataset("digits").test_images
    four = spread_codes(build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=4, hidden_sizes=(32,)),
                                    seed=0), images)
    with torch.no_grad():
        for dim in DEAD_DIMS:  # mean 0 and log-variance 0 whatever the picture: exactly the prior, KL 0
            for layer in (four.fc_mu, four.fc_logvar):
                layer.weight[dim] = 0.0
                layer.bias[dim] = 0.0
        four.fc_mu.weight[2] *= 0.5  # z3 carries less than z1: the order is not the dims' own
        four.fc_mu.bias[2] *= 0.5
    tight = spread_codes(build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(32,)),
                                     seed=1), images, spread=0.25)
    with torch.no_grad():
        tight.fc_mu.bias.add_(torch.tensor(CODE_CENTRE))
        tight.fc_logvar.weight.zero_()
        tight.fc_logvar.bias.fill_(-5.0)  # sharp posteriors: the images' codes cover little of the plane
    cb = build_model(ModelConfig(kind="mlp", image_shape=(8, 8), latent_dim=2, hidden_sizes=(16,),
                                 likelihood="continuous-bernoulli"), seed=2)
    for name, model in ((FOUR_D, four), (TIGHT_2D, tight), (CB_2D, cb)):
        vae.save_checkpoint(folder / f"{name}.pt", model, dataset="digits", class_names=DIGITS,
                            metrics={"test_elbo": -60.0})
    return folder


def model_at(folder: Path, name: str) -> vae.LatentModel:
    return vae.load_model(folder / f"{name}.pt")


def posteriors_here(model: vae.LatentModel) -> tuple[np.ndarray, np.ndarray]:
    """The test pictures' means and log-variances from the torch module, as float64."""
    with torch.no_grad():
        mu, logvar = model.module.encode(torch.as_tensor(load_dataset("digits").test_images))
    return mu.double().numpy(), logvar.double().numpy()


def kl_here(model: vae.LatentModel) -> np.ndarray:
    """Each dim's KL from N(0, 1), averaged over the test pictures, by the closed form in numpy."""
    mu, logvar = posteriors_here(model)
    return (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(axis=0)


def chart(at, key: str) -> dict:
    import json

    found = [element for element in at.get("plotly_chart") if element.proto.id.endswith(f"-{key}")]
    assert len(found) == 1, [element.proto.id for element in at.get("plotly_chart")]
    return json.loads(found[0].proto.spec)


def trace_values(trace: dict) -> list[float]:
    """A plotly trace's y values (plain lists, or base64 'bdata' arrays)."""
    import base64

    values = trace["y"]
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def shown_pictures(at, media) -> list[tuple[str, np.ndarray]]:
    """(caption, pixels at their own size) of every st.image on the page: whole-pixel blocks read back once."""
    found = []
    for element in at.get("image"):
        for img in element.proto.imgs:
            data, _, _ = media.image(img)
            pixels = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
            found.append((img.caption, pixels))
    return found


def unscaled(pixels: np.ndarray, width: int) -> np.ndarray:
    scale = pixels.shape[1] // width
    return pixels[::scale, ::scale]


def download(at, media, key: str) -> Image.Image:
    button = next(button for button in at.get("download_button") if button.proto.id.endswith(f"-{key}"))
    data, mimetype = media.download(button)
    assert mimetype == "image/png"
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


# ------------------------------------------------------------------ Generate: KL per code number


def test_the_kl_chart_shows_each_code_numbers_kl_and_marks_the_unused_ones(app, model_folder):
    open_page(app, "generate", FOUR_D)
    expected = kl_here(model_at(model_folder, FOUR_D))
    figure = chart(app, "gen_kl_chart")
    bars = {name: value for trace in figure["data"] for name, value in zip(trace["x"], trace_values(trace))}
    assert sorted(bars) == ["z1", "z2", "z3", "z4"]
    np.testing.assert_allclose([bars[f"z{dim + 1}"] for dim in range(4)], expected, rtol=1e-4, atol=1e-6)
    unused = next(trace for trace in figure["data"] if "unused" in trace["name"])
    assert list(unused["x"]) == ["z2", "z4"]
    text = page_text(app)
    assert "2 of 4 code numbers are unused (z2, z4)" in text and "posterior collapse" in text


def test_traversals_go_from_the_most_informative_code_number_to_the_unused_ones(app, model_folder, media):
    open_page(app, "generate", FOUR_D)
    model = model_at(model_folder, FOUR_D)
    kl = kl_here(model)
    used = [dim for dim in np.argsort(-kl, kind="stable") if dim not in DEAD_DIMS]
    order = [*used, *DEAD_DIMS]
    caption, pixels = next((caption, pixels) for caption, pixels in shown_pictures(app, media)
                           if caption.startswith("Rows from the top"))
    labels = [f"z{dim + 1}: {kl[dim]:.2f} nats" for dim in used] + ["z2: unused", "z4: unused"]
    assert caption.startswith("Rows from the top: " + "; ".join(labels))
    values = np.linspace(-3, 3, 9)
    expected = vae.images.to_uint8(vae.images.tile(np.stack([model.traverse(int(dim), values=values)
                                                             for dim in order])))
    np.testing.assert_array_equal(unscaled(pixels, expected.shape[1]), expected)
    assert max(download(app, media, "gen_traverse_download").size) >= 1024


def test_without_test_pictures_the_kl_says_why_and_the_rows_keep_their_order(monkeypatch, tmp_path, model_folder):
    model = model_at(model_folder, FOUR_D).module
    vae.save_checkpoint(tmp_path / "no-data.pt", model, dataset="", class_names=DIGITS)
    app = open_page(app_reading(tmp_path, monkeypatch), "generate", "no-data")
    assert "needs the test pictures" in " ".join(info.value for info in app.info)
    assert not [chart for chart in app.get("plotly_chart") if chart.proto.id.endswith("-gen_kl_chart")]
    assert "Rows from the top: z1; z2; z3; z4." in " ".join(img.caption for element in app.get("image")
                                                             for img in element.proto.imgs)


# ------------------------------------------------------------------ Interpolate: checks along the path


def holes_here(points: np.ndarray, mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Brute force: the prior's 90% region (scipy's chi-square) where the images' mixture is under a tenth of it."""
    prior = stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(points)
    components = np.stack([stats.multivariate_normal(m, np.diag(np.exp(v))).pdf(points) for m, v in zip(mu, logvar)])
    mixture = np.log(components.mean(axis=0))
    inside = prior >= -0.5 * (stats.chi2.ppf(0.9, 2) + 2 * math.log(2 * math.pi))
    return inside & (mixture < prior + math.log(0.1))


def test_each_step_shows_its_likelihood_nearest_test_code_and_whether_it_is_in_a_hole(app, model_folder):
    app.session_state["interp_ends"] = {"model": TIGHT_2D, "next": "a", "a": {"z": [-1.5, 0.0]}, "b": {"z": [1.2, 0.0]}}
    open_page(app, "interpolate", TIGHT_2D)
    model = model_at(model_folder, TIGHT_2D)
    path = np.stack([np.linspace(-1.5, 1.2, 10), np.zeros(10)], axis=1).astype(np.float32)
    mu, logvar = posteriors_here(model)
    table = app.dataframe[0].value  # the checks table (the page has no other)
    distances = np.linalg.norm(path[:, None, :].astype(np.float64) - mu[None], axis=2)
    assert table["Nearest test picture"].tolist() == distances.argmin(axis=1).tolist()
    np.testing.assert_allclose(table["Distance to its code"], distances.min(axis=1), atol=1e-3)
    holes = holes_here(path.astype(np.float64), mu, logvar)
    assert holes.any() and not holes.all()  # the path leaves the data and comes back: both answers are checked
    assert table["In a hole"].tolist() == ["yes" if flag else "no" for flag in holes]
    pictures = model.decode(path)
    nll = [importance_sampled_nll(model.module, pictures[i : i + 1], samples=100, seed=0) for i in range(10)]
    np.testing.assert_allclose(table["−log p of the picture (nats)"], np.round(nll, 1), atol=0.11)
    floor = [stats.bernoulli(np.clip(picture, 0, 1).astype(np.float64)).entropy().sum() for picture in pictures]
    np.testing.assert_allclose(table["Above the floor (nats)"], np.array(nll) - floor, atol=0.11)
    assert "lie in a hole" in page_text(app) and "A picture drawn in a hole" in page_text(app)
    chart(app, "interp_checks_chart")  # the chart is there too
    app.toggle(key="interp_checks").set_value(False).run()
    assert not app.dataframe


# ------------------------------------------------------------------ Reconstructions


def likelihoods_here(model: vae.LatentModel, images: np.ndarray) -> np.ndarray:
    """-log p(x | z = mu) of each picture under the Bernoulli likelihood, written out in numpy from the decoder's
    probabilities."""
    with torch.no_grad():
        mu, _ = model.module.encode(torch.as_tensor(images))
        probability = torch.sigmoid(model.module.decode_logits(mu)).double().numpy()
    x = images.astype(np.float64)
    return -(x * np.log(probability) + (1 - x) * np.log1p(-probability)).reshape(len(x), -1).sum(axis=1)


def shown_indices(at) -> list[int]:
    return [int(img.caption.split(":")[0].split()[-1]) for element in at.get("image") for img in element.proto.imgs]


def test_hardest_first_by_the_models_own_likelihood(app, model_folder):
    open_page(app, "reconstructions", FOUR_D)
    app.radio(key="recon_order").set_value("hardest").run()
    app.selectbox(key="recon_measure").set_value("likelihood").run()
    assert_clean(app)
    nll = likelihoods_here(model_at(model_folder, FOUR_D), load_dataset("digits").test_images)
    expected = np.argsort(-nll, kind="stable")[:12]
    assert shown_indices(app) == expected.tolist()
    first = app.get("image")[0].proto.imgs[0].caption
    assert first.startswith(f"Picture {expected[0]}: −log p(x|z) {nll[expected[0]]:.1f} nats · error ")


def test_the_error_maps_show_where_the_pixels_differ_and_where_the_model_is_surprised(app, model_folder, media):
    open_page(app, "reconstructions", FOUR_D)
    app.slider(key="recon_count").set_value(4).run()
    model = model_at(model_folder, FOUR_D)
    indices = shown_indices(app)
    originals = load_dataset("digits").test_images[indices].astype(np.float64)
    redrawn = model.reconstruct(originals.astype(np.float32)).astype(np.float64)
    squared = (originals - redrawn) ** 2
    with torch.no_grad():
        probability = torch.sigmoid(model.module.decode_logits(model.module.encode(
            torch.as_tensor(originals, dtype=torch.float32))[0])).double().numpy()
    surprise = -(originals * np.log(probability) + (1 - originals) * np.log1p(-probability))
    surprise -= stats.bernoulli(np.clip(originals, 0, 1)).entropy()  # above each pixel's floor
    for view, maps in (("error-map", squared), ("surprise-map", surprise)):
        app.radio(key="recon_view").set_value(view).run()
        assert_clean(app)
        scaled = maps / maps.max()
        for (caption, pixels), original, expected in zip(shown_pictures(app, media), originals, scaled):
            pair = vae.images.to_uint8(vae.images.tile(np.stack([original, expected]), columns=2))
            np.testing.assert_allclose(unscaled(pixels, pair.shape[1]).astype(int), pair.astype(int), atol=1)
        assert f"white is {maps.max():.{3 if view == 'error-map' else 2}f}" in page_text(app)


def test_several_codes_per_picture_redraw_each_from_seeded_draws_of_its_posterior(app, model_folder, media):
    open_page(app, "reconstructions", FOUR_D)
    app.slider(key="recon_count").set_value(4).run()
    indices = shown_indices(app)
    app.radio(key="recon_view").set_value("samples").run()
    app.slider(key="recon_samples").set_value(3)
    app.number_input(key="recon_sample_seed").set_value(5).run()
    assert_clean(app)
    model = model_at(model_folder, FOUR_D)
    originals = load_dataset("digits").test_images[indices]
    mu, logvar = posteriors_here(model)
    eps = np.random.default_rng(5).standard_normal((4, 3, 4))
    codes = mu[indices][:, None] + eps * np.exp(0.5 * logvar[indices])[:, None]
    redrawn = model.decode(codes.reshape(-1, 4).astype(np.float32)).reshape(4, 3, 8, 8)
    expected = vae.images.to_uint8(vae.images.tile(np.concatenate([originals[:, None], redrawn], axis=1)))
    (caption, pixels), = shown_pictures(app, media)
    np.testing.assert_array_equal(unscaled(pixels, expected.shape[1]), expected)
    assert max(download(app, media, "recon_samples_download").size) >= 1024


def test_metrics_offer_k_up_to_5000_and_show_the_gap_the_floor_and_the_honest_nll_words(app, model_folder):
    open_page(app, "reconstructions", FOUR_D)
    assert app.selectbox(key="recon_nll_samples").options == ["100", "1,000", "5,000 (the papers' number)"]
    app.selectbox(key="recon_nll_samples").set_value(5000).run()
    assert "several minutes" in " ".join(warning.value for warning in app.warning)
    app.selectbox(key="recon_nll_samples").set_value(1000).run()
    app.button(key="recon_metrics_button").click().run()
    assert_clean(app)
    values = {metric.label: float(metric.value.split()[0].rstrip("%")) for metric in app.metric}
    test = load_dataset("digits").test_images.astype(np.float64)
    floor = stats.bernoulli(np.clip(test, 0, 1)).entropy().reshape(len(test), -1).sum(axis=1).mean()
    assert math.isclose(values["Entropy floor"], floor, abs_tol=0.006)
    assert math.isclose(values["Above the floor"], -values["Test ELBO"] - values["Entropy floor"], abs_tol=0.011)
    assert math.isclose(values["ELBO − NLL gap"], -values["Test ELBO"] - values["NLL estimate"], abs_tol=0.011)
    nll = importance_sampled_nll(model_at(model_folder, FOUR_D).module, test[:500].astype(np.float32), 1000, 0)
    assert math.isclose(values["NLL estimate"], nll, abs_tol=0.006)
    text = page_text(app)
    assert "with 1,000 codes per picture" in text and f"{floor:.1f} nats per picture that no model can remove" in text


def test_the_nll_help_says_at_most_minus_the_elbo_only_on_average(app):
    """It said "always at most minus the ELBO": that holds on average, not for every picture."""
    open_page(app, "reconstructions", FOUR_D)
    app.button(key="recon_metrics_button").click().run()
    help_line = next(line for line in page_text(app).splitlines() if line.startswith("- **NLL estimate**"))
    assert "always" not in help_line and "On average over many pictures it is at most minus the ELBO" in help_line
    assert "for a single picture it can land on either side" in help_line


# ------------------------------------------------------------------ honest likelihoods: Models page and sidebar


def test_the_models_page_and_the_sidebar_say_what_the_elbo_contains(app, model_folder):
    open_page(app, "models", FOUR_D)
    test = load_dataset("digits").test_images.astype(np.float64)
    floor = stats.bernoulli(np.clip(test, 0, 1)).entropy().reshape(len(test), -1).sum(axis=1).mean()
    note = next(caption.value for caption in app.caption if "test ELBO -60.0" in caption.value)
    assert f"contains {floor:.1f} nats per picture that no model can remove" in note
    assert f"{-(-60.0) - floor:.1f} nats per picture above that floor" in note
    app.run()  # the floor is measured now: the sidebar says it too
    facts = " ".join(item.value for item in app.sidebar.markdown)
    assert f"Test ELBO: -60.0 ({60.0 - floor:.1f} above the floor of {floor:.1f})" in facts
    app.selectbox(key="models_choice").set_value(CB_2D).run()
    note = next(caption.value for caption in app.caption if "test ELBO -60.0" in caption.value)
    assert "continuous Bernoulli" in note and "floor" not in note


def test_the_train_page_trains_with_warm_up_free_bits_and_the_continuous_bernoulli(monkeypatch, tmp_path):
    from vae.training import jobs

    app = open_page(app_reading(tmp_path, monkeypatch), "train")
    app.selectbox(key="train_dataset").select("digits").run()
    app.selectbox(key="train_model").select("Custom").run()
    app.text_input(key="train_hidden").input("16")
    app.selectbox(key="train_likelihood").set_value("continuous-bernoulli")
    app.number_input(key="train_epochs").set_value(1)
    app.number_input(key="train_kl_warmup").set_value(4)
    app.number_input(key="train_free_bits").set_value(0.5).run()
    assert "posterior collapse" in page_text(app)
    app.button(key="train_start").click().run()
    assert_clean(app)
    job = jobs.get_job(app.session_state["train_job_id"])
    assert job is not None and job.wait(60), "the run did not end in time"
    app.run()
    assert_clean(app)
    assert "minus the test ELBO" in page_text(app) and "no model can remove" in page_text(app)  # under the curves
    saved = vae.load_model(tmp_path / f"{job.snapshot().saved_name}.pt")
    assert saved.config.likelihood == "continuous-bernoulli"
    assert (saved.train_config.kl_warmup, saved.train_config.free_bits) == (4, 0.5)
