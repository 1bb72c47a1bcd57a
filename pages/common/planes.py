"""The latent plane of a model: its test images' codes (saved or encoded, cached), the projection or the t-SNE map,
the background."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import streamlit as st

import vae
from pages.common.datasets import model_dataset
from pages.common.model_access import load_model_at, model_stamp

LOGGER = logging.getLogger("vae_explorer")
TSNE = "tsne"  # the plane method of the t-SNE map (above 2-D); "pca" and "dims" are vae.plane_projection's
BACKGROUND_SIDE = 20  # decoded pictures per side of the background grid
TSNE_MAX_POINTS = 10_000  # above this many test images t-SNE would take minutes: the PCA view is shown instead
PROGRESS_MIN_IMAGES = 20_000  # test sets this large are encoded with a progress bar (70,000 images: seconds)
_PREPARED: set[tuple[str, int]] = set()  # checkpoint versions whose large test sets were looked at by prepare_codes


@st.cache_data(show_spinner="Encoding the test images…", max_entries=8)
def _encode_test_set_cached(path: str, mtime_ns: int) -> vae.TestCodes:
    """The saved codes when they fit the file and its dataset (no torch needed), else encode and save them."""
    saved = _saved_codes(path)
    if saved is not None:
        return saved
    model = load_model_at(path, mtime_ns)
    dataset = model_dataset(model)
    codes = vae.encode_test_codes(model, dataset.test_images, dataset.test_labels,
                                  tuple(model.class_names or dataset.class_names), dataset.name)
    _save_codes(path, codes, dataset.name)
    return codes


def _save_codes(path: str, codes: vae.TestCodes, dataset_name: str) -> None:
    try:
        vae.write_test_codes(path, codes, vae.data.dataset_version(dataset_name))
    except OSError:  # a read-only folder: the codes are simply made again next time
        LOGGER.warning("Could not save the test-image codes of %s", path, exc_info=True)


def prepare_codes(path: str, mtime_ns: int) -> None:
    """Encode a large test set with a progress bar and save its codes, once per checkpoint version.

    Outside the cached functions on purpose: an element drawn inside one would be replayed on every
    cache hit. The cached read then finds the saved codes; small sets are encoded there (a spinner), and
    so are large ones whose codes file is there but stale (a dataset that changed).
    """
    if (path, mtime_ns) in _PREPARED:
        return
    _PREPARED.add((path, mtime_ns))
    if vae.codes_path(path).exists():
        return
    try:
        model = load_model_at(path, mtime_ns)
        dataset = model_dataset(model)
    except vae.VAEError:
        return  # the cached read says why there are no test images
    if len(dataset.test_images) < PROGRESS_MIN_IMAGES:
        return
    text = f"Encoding the {len(dataset.test_images):,} test images for the map…"
    bar = st.progress(0.0, text=text)
    try:
        codes = vae.encode_test_codes(model, dataset.test_images, dataset.test_labels,
                                      tuple(model.class_names or dataset.class_names), dataset.name,
                                      progress=lambda done: bar.progress(done, text=text))
        _save_codes(path, codes, dataset.name)
    finally:
        bar.empty()


def _saved_codes(path: str) -> vae.TestCodes | None:
    try:
        dataset_name = vae.read_info(path).dataset
    except vae.VAEError:  # not in this app's format (a classic state_dict): no saved codes
        return None
    saved = vae.read_test_codes(path, vae.data.dataset_version(dataset_name))
    return saved if saved is not None and saved.dataset == dataset_name else None


def encode_test_set(name: str) -> vae.TestCodes:
    """The latent means of the model's test images (cached per checkpoint file version)."""
    stamp = model_stamp(name)
    prepare_codes(*stamp)
    return _encode_test_set_cached(*stamp)


@st.cache_data(show_spinner="Reading how sure the model is of each code…", max_entries=8)
def _posteriors_cached(path: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray | None]:
    codes = _encode_test_set_cached(path, mtime_ns)
    if codes.logvars is not None:
        return codes.means, codes.logvars
    # Codes saved without their log-variances (by another tool): the model gives them when the codes are of its own
    # test images; codes of other images (another count) have no known uncertainty. The map keeps the file's means.
    try:
        model = load_model_at(path, mtime_ns)
        dataset = model_dataset(model)
    except vae.VAEError:
        return codes.means, None
    if len(dataset.test_images) != len(codes.means):
        return codes.means, None
    return codes.means, model.encode(dataset.test_images)[1].astype(np.float32)


def test_posteriors(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The test images' posteriors q(z|x): means (N, D) and log-variances (N, D), float32 (cached); the
    log-variances are None when the saved codes lack them and the model cannot give them for those images."""
    stamp = model_stamp(name)
    prepare_codes(*stamp)
    return _posteriors_cached(*stamp)


@st.cache_data(show_spinner="Drawing the t-SNE map of the codes (this takes a few seconds, once per model)…",
               max_entries=8)
def _tsne_cached(path: str, mtime_ns: int) -> np.ndarray:
    return vae.tsne_plane(_encode_test_set_cached(path, mtime_ns).means)


@dataclass(frozen=True)
class Plane:
    """What the latent plane shows: the projection, the images' positions on it and the fixed ranges."""

    projection: vae.Projection
    points2d: np.ndarray  # (N, 2) float32; empty when no test images are available
    labels: np.ndarray  # (N,)
    class_names: tuple[str, ...]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    dim_ranges: tuple[tuple[float, float], ...]  # slider range of every latent dim
    note: str  # why there are no data points, or ""
    tsne: bool = False  # the t-SNE map: points2d are t-SNE's, and ``projection`` (PCA) only lifts the sliders' codes

    @property
    def axis_titles(self) -> tuple[str, str]:
        """Plain axis names."""
        return self.projection.labels


@st.cache_data(show_spinner=False, max_entries=32)
def _plane_cached(path: str, mtime_ns: int, method: str, dims: tuple[int, int]) -> Plane:
    try:  # from the saved codes when there are some: then no model (and no torch) is needed here
        latents = _encode_test_set_cached(path, mtime_ns)
        means, labels, names, note = latents.means, latents.labels, latents.class_names, ""
    except vae.VAEError as error:
        model = load_model_at(path, mtime_ns)
        means = np.zeros((0, model.latent_dim), np.float32)
        labels, names, note = np.zeros(0, np.int64), tuple(model.class_names), str(error)
    labels, names = vae.plots.plot_classes(labels, names)  # at most MAX_CLASSES, whatever the file's labels say
    latent_dim = means.shape[1]
    tsne = method == TSNE and latent_dim > 2 and vae.MIN_TSNE_POINTS <= len(means) <= TSNE_MAX_POINTS
    use_pca = method in ("pca", TSNE) and len(means) >= 2
    projection = vae.plane_projection(means, latent_dim, "pca" if use_pca else "dims", dims)
    points2d = projection.to_2d(means) if len(means) else np.zeros((0, 2), np.float32)
    if tsne:
        points2d = _tsne_cached(path, mtime_ns)
    dim_ranges = tuple(vae.plots.axis_range(means[:, d]) for d in range(latent_dim))
    return Plane(projection, points2d, labels, names, vae.plots.axis_range(points2d[:, 0]),
                 vae.plots.axis_range(points2d[:, 1]), dim_ranges, note, tsne)


def latent_plane(name: str, method: str = "pca", dims: tuple[int, int] = (0, 1)) -> Plane:
    """The 2-D plane for the model: its own plane for a 2-D latent, else PCA (default) or two dims."""
    stamp = model_stamp(name)
    prepare_codes(*stamp)
    return _plane_cached(*stamp, method, (int(dims[0]), int(dims[1])))


@st.cache_data(show_spinner="Decoding the background…", max_entries=64)
def _manifold_png_cached(path: str, mtime_ns: int, method: str, dims: tuple[int, int],
                         base: tuple[float, ...] | None) -> str:
    model = load_model_at(path, mtime_ns)
    plane = _plane_cached(path, mtime_ns, method, dims)
    if plane.tsne:  # no formula from the t-SNE map to codes: each spot shows what a click there decodes
        spots = vae.plane_grid(plane.x_range, plane.y_range, BACKGROUND_SIDE)
        means = _encode_test_set_cached(path, mtime_ns).means
        codes = np.stack([vae.tsne_click_code(spot, plane.points2d, means) for spot in spots])
        grid = model.decode(codes).reshape(BACKGROUND_SIDE, BACKGROUND_SIDE, *model.image_dims)
    else:
        grid = model.manifold_grid(BACKGROUND_SIDE, plane.x_range, plane.y_range, plane.projection,
                                   None if base is None else np.asarray(base, np.float32))
    return vae.plots.png_data_uri(vae.images.png_bytes(vae.images.tile(grid, padding=0)))


def manifold_png(name: str, method: str, dims: tuple[int, int], base: np.ndarray | None) -> str:
    """A 20x20 grid of decoded images covering the plane, as a PNG data URI (cached); on the t-SNE map each shows
    what a click at its spot decodes."""
    key = None if base is None else tuple(round(float(v), 3) for v in base)
    return _manifold_png_cached(*model_stamp(name), method, (int(dims[0]), int(dims[1])), key)


def clear_caches() -> None:
    """Forget the cached codes, planes and backgrounds (after a checkpoint was saved, replaced or deleted)."""
    _encode_test_set_cached.clear()
    _posteriors_cached.clear()
    _tsne_cached.clear()
    _PREPARED.clear()
    _plane_cached.clear()
    _manifold_png_cached.clear()
