"""The Latent space map's research views: how unsure the model is of each code, where it has data and where it has
none, how honest a flat view of many numbers is, and the test pictures nearest a point (vae.analysis.overlays and
vae.analysis.diagnostics do the arithmetic; this draws it)."""
from __future__ import annotations

import base64

import numpy as np
import streamlit as st

import vae
from pages.common import datasets, latent_map, model_access, pictures, planes
from pages.common.text import plain

ELLIPSES_KEY = "explore_ellipses"  # show every test image's uncertainty ellipse
DENSITY_KEY = "explore_density"  # one of DENSITY_CHOICES
DENSITY_CHOICES = {"none": "Nothing", "prior": "Where the model expects codes", "data": "Where the pictures' codes are",
                   "both": "Both"}
MAX_ELLIPSES = 5_000  # above this many test images the ellipses are not drawn (unreadable, and slow on every frame)
NEAREST_COUNT = 5  # test pictures listed nearest the chosen point
THUMBNAIL_WIDTH = 48  # most on-screen pixels of a nearest picture
OFF_THE_DATA = "off the data"
OFF_THE_DATA_NOTE = ("Off the data: the model expects codes here, but no test picture's code is near, so this picture "
                     "is the model's guess.")
NO_UNCERTAINTY = ("The saved codes of this model do not say how unsure it is of each picture, and they are not of its "
                  "test pictures, so the uncertainty rings and the shading cannot be drawn.")
NO_LAYERS_ON_TSNE = ("The t-SNE map bends distances, so the uncertainty rings and the shading are drawn only on the "
                     "other two views.")


def _layers_of(name: str, plane: planes.Plane) -> str:
    """Why this plane cannot carry densities or ellipses, or "" when it can."""
    if plane.tsne:
        return NO_LAYERS_ON_TSNE
    if not len(plane.labels):
        return "There are no test pictures to draw these from."
    if len(plane.dim_ranges) < 2:
        return "A model with a single code number has no plane to draw these on."
    if planes.test_posteriors(name)[1] is None:
        return NO_UNCERTAINTY
    return ""


@st.cache_data(show_spinner="Working out where the model has data…", max_entries=16)
def _density_cached(path: str, mtime_ns: int, method: str, dims: tuple[int, int], _name: str) -> dict:
    plane = planes.latent_plane(_name, method, dims)
    means, logvars = planes.test_posteriors(_name)
    chosen = vae.density_sample(len(means))
    grids = vae.density_grids(means[chosen], logvars[chosen], plane.projection, plane.x_range, plane.y_range,
                              vae.DENSITY_RESOLUTION)
    centre, radii = vae.prior_rings(plane.projection)
    return {
        "pictures": {show: vae.plots.png_data_uri(vae.rgba_png(vae.density_picture(grids, show)))
                     for show in (False, True)},
        "extent": list(vae.picture_extent(grids)),
        "prior": {"centre": [float(v) for v in centre], "radii": [float(r) for r in radii],
                  "masses": [float(m) for m in vae.PRIOR_RING_MASSES]},
        "holes": {"size": int(grids.holes.shape[0]), "x_range": [float(grids.xs[0]), float(grids.xs[-1])],
                  "y_range": [float(grids.ys[-1]), float(grids.ys[0])],
                  "bits": base64.b64encode(np.packbits(grids.holes.ravel()).tobytes()).decode("ascii")},
        "sampled": len(chosen) < len(means),
    }


@st.cache_data(show_spinner=False, max_entries=16)
def _ellipses_cached(path: str, mtime_ns: int, method: str, dims: tuple[int, int], _name: str) -> vae.Ellipses:
    means, logvars = planes.test_posteriors(_name)
    return vae.posterior_ellipses(means, logvars, planes.latent_plane(_name, method, dims).projection)


def map_layers(name: str, method: str, dims: tuple[int, int], picked: int | None) -> dict:
    """The map's research fields (pages/common/map_layers.js): ellipses, the clicked image's, density, prior, holes."""
    plane = planes.latent_plane(name, method, dims)
    if _layers_of(name, plane):
        return {}
    stamp = model_access.model_stamp(name)
    out: dict = {}
    ellipses = _ellipses_cached(*stamp, method, dims, name)
    if st.session_state.get(ELLIPSES_KEY) and len(plane.labels) <= MAX_ELLIPSES:
        out["ellipses"] = {"count": int(len(plane.labels)), **{field: latent_map.encode_floats(getattr(ellipses, field))
                                                              for field in ("major", "minor", "angle")}}
    if picked is not None and 0 <= picked < len(plane.labels):
        out["picked_ellipse"] = {"centre": [float(v) for v in ellipses.centres[picked]],
                                 **{field: float(getattr(ellipses, field)[picked]) for field in ("major", "minor", "angle")}}
    choice = st.session_state.get(DENSITY_KEY, "none")
    if choice in ("prior", "data", "both"):
        density = _density_cached(*stamp, method, dims, name)
        out["density"] = {"picture": density["pictures"][choice != "prior"], "extent": density["extent"]}
        out["holes"] = density["holes"]
        if choice != "data":
            out["prior"] = density["prior"]
    return out


def show_layer_choices(name: str, plane: planes.Plane, method: str, dims: tuple[int, int]) -> None:
    """The two switches under the map, each with one plain sentence of what it shows."""
    problem = _layers_of(name, plane)
    if problem:
        st.caption(problem)
        return
    st.checkbox("Show how unsure the model is of each picture's code", key=ELLIPSES_KEY,
                help=f"Each ring is one standard deviation of the model's guess: the code lies inside it with a "
                     f"{vae.ellipse_mass():.0%} chance. The clicked picture's ring is always drawn, in black.")
    if st.session_state.get(ELLIPSES_KEY) and len(plane.labels) > MAX_ELLIPSES:
        st.caption(f"Too many test pictures for rings ({len(plane.labels):,}); the clicked picture's ring is drawn.")
    choice = st.radio("Shade the map", list(DENSITY_CHOICES), format_func=DENSITY_CHOICES.get, key=DENSITY_KEY,
                      horizontal=True)
    if choice != "none":
        st.caption("Blue shading: where the pictures' codes are. Dashed rings: where the model expects codes before "
                   "seeing any picture (half and 90% of them). Orange stripes: holes, where the model expects codes "
                   "but no picture's code lies; a picture drawn there says \"off the data\".")
        if _density_cached(*model_access.model_stamp(name), method, dims, name)["sampled"]:
            st.caption(f"The shading mixes a sample of {vae.density_sample(len(plane.labels)).size:,} test pictures.")


def off_the_data(name: str, plane: planes.Plane, z: np.ndarray) -> bool:
    """Whether the point ``z`` (D,) lies in a hole of this plane (exact, vae.off_the_data; False on the t-SNE map)."""
    if _layers_of(name, plane):
        return False
    means, logvars = planes.test_posteriors(name)
    chosen = vae.density_sample(len(means))  # the same posteriors as the shading
    spot = plane.projection.to_2d(np.asarray(z, np.float64)[None])
    return bool(vae.off_the_data(spot, means[chosen], logvars[chosen], plane.projection)[0])


# ---------------------------------------------------------------- honest planes above 2-D


@st.cache_data(show_spinner="Comparing neighbours on the map with neighbours in full…", max_entries=16)
def _knn_cached(path: str, mtime_ns: int, method: str, dims: tuple[int, int], _name: str) -> vae.PlaneAccuracy | None:
    model = model_access.load_model_at(path, mtime_ns)
    dataset = datasets.model_dataset(model)
    if not len(dataset.train_images):
        return None
    train = dataset.train_images[: vae.KNN_MAX_TRAIN]
    codes = planes.encode_test_set(_name)
    return vae.plane_knn_accuracy(model.encode(train)[0], dataset.train_labels[: len(train)], codes.means,
                                  codes.labels, planes.latent_plane(_name, method, dims).projection)


def explain_plane(name: str, plane: planes.Plane, method: str, dims: tuple[int, int]) -> None:
    """Above 2-D: how much of the codes this flat view shows, how well it keeps neighbours, what a click does."""
    latent_dim = len(plane.dim_ranges)
    if latent_dim <= 2 or not len(plane.labels):
        return
    if method == planes.TSNE and not plane.tsne:
        st.caption(f"The t-SNE map is drawn for {vae.MIN_TSNE_POINTS} to {planes.TSNE_MAX_POINTS:,} test pictures "
                   f"(this model has {len(plane.labels):,}); this is the PCA view.")
    if plane.tsne:
        st.caption(f"This map keeps each picture near its most similar pictures, but distances between groups mean "
                   f"little and there is no way back from a spot to a code: a click (and hovering) shows the average "
                   f"code of the {vae.TSNE_NEIGHBOURS} test pictures nearest that spot on this map.")
        return
    shown = vae.explained_variance(planes.encode_test_set(name).means, plane.projection)
    lines = [f"This flat view shows {shown:.1%} of how the codes vary."]
    if model_access.models_ready():
        accuracy = _knn_cached(*model_access.model_stamp(name), method, dims, name)
        if accuracy is not None:
            lines.append(f"A picture's 5 nearest neighbours share its class {accuracy.plane:.0%} of the time on this "
                         f"view, against {accuracy.full:.0%} with all {latent_dim} numbers.")
    lines.append("A click moves the point only along this view's two directions: the rest of the code stays as it "
                 "was." if method != "dims" else f"A click sets the two numbers shown; the other {latent_dim - 2} "
                 "stay as they are.")
    st.caption(" ".join(lines))


# ---------------------------------------------------------------- the nearest test pictures


def show_nearest(name: str, plane: planes.Plane, z: np.ndarray) -> None:
    """The test pictures whose codes are nearest the point, counting every number: picture, class and distance."""
    means = planes.encode_test_set(name).means
    if not len(means):
        return
    indices, distances = vae.nearest_codes(z, means, NEAREST_COUNT)
    counted = f"counting all {len(z)} numbers" if len(z) > 2 else "on the map"
    st.markdown(f"**Nearest test pictures**: number, class and distance ({counted})")
    columns = st.columns(len(indices))
    for column, index, distance in zip(columns, indices, distances):
        pictures.show(datasets.test_image(name, int(index)), THUMBNAIL_WIDTH, place=column)
        class_name = vae.plots.class_name(plane.class_names, int(plane.labels[index]))
        column.caption(plain(f"#{index} · {class_name} · {distance:.2f}"))
