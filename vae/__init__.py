"""VAE Latent Explorer's model side: models, data, training, checkpoints and latent tools (no UI).

The public API. Pages write ``import vae`` and reach every name as ``vae.<name>``: the names below,
and the torch-free helper modules ``vae.data``, ``vae.files``, ``vae.images`` and ``vae.plots``.

Names are loaded on first use: ``import vae`` alone is instant, and the parts that need no torch
(config, presets, files, errors, data, plots, images, io.catalog, io.listing, io.schema, io.codes, io.timelapse,
analysis.projection, analysis.diagnostics, analysis.overlays, analysis.likelihoods, analysis.selections,
analysis.disentanglement, training.jobs, training.progress) never import it,
so the app can draw a saved map while torch is still loading. The ``TYPE_CHECKING`` block names the
same things for editors and type checkers. ``vae.grid_pictures`` (grids with their code values written
beside them), ``vae.comparison`` (several models' curves in one figure), ``vae.timelapse_video`` (a time-lapse
as GIF and MP4), ``vae.lens_plots`` (the research views' charts: KL per dim, statistics along a path) and
``analysis.grids`` (the codes of grids and offset walks) are torch-free too.
"""
from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what editors and type checkers see; at run time __getattr__ imports each name on first use
    from vae import analysis, config, data, errors, files, images, io, models, plots, presets, training
    from vae.analysis.disentanglement import FactorReport, factor_report
    from vae.analysis.latent import LatentModel
    from vae.analysis.metrics import evaluate
    from vae.analysis.projection import Projection, dims_projection, lerp, pca_projection, plane_projection, slerp
    from vae.config import History, ModelConfig, TrainConfig, TrainEvent
    from vae.data import (
        DATASETS,
        OFFLINE_DATASETS,
        Dataset,
        dataset_version,
        list_datasets,
        list_user_datasets,
        load_dataset,
        load_user_dataset,
        save_user_dataset,
    )
    from vae.errors import CheckpointError, DataError, TrainingError, VAEError
    from vae.files import checkpoint_path, codes_path, next_free_name, sanitize_name
    from vae.io.catalog import CheckpointInfo, read_info
    from vae.io.checkpoints import load_model, read_checkpoint, save_checkpoint
    from vae.io.codes import TestCodes, encode_test_codes, read_test_codes, save_test_codes, write_test_codes
    from vae.io.listing import delete_checkpoint, list_checkpoints, scan_checkpoints
    from vae.io.timelapse import Timelapse, read_timelapse
    from vae.io.importers import ImportChoices
    from vae.io.model_import import ImportQuestions, inspect_model_file, save_imported_model
    from vae.io.web import UnsupportedLayer, WebDecoder, export_decoder, lift_payload
    from vae.models import ConvVAE, MLPVAE, build_model, count_parameters
    from vae.presets import PRESET_DESCRIPTIONS, PRESETS, model_config_for, preset_beta
    from vae.training.jobs import MAX_RUNNING_JOBS, JobSnapshot, get_job, name_in_training, running_jobs, start_job
    from vae.training.loop import fit, train_model
    from vae.training.run import RunOutcome, run_training
    from vae import comparison, grid_pictures, timelapse_video
    from vae.analysis.grids import (
        NEAR_SHARE,
        LatentGrid,
        class_direction,
        dim_direction,
        grid_values,
        latent_grid,
        near_code_threshold,
        near_codes,
        offset_codes,
        prior_centre,
        random_direction,
    )
    # The research views (issue 15): diagnostics, likelihoods, overlays and selections are torch-free; scores runs
    # the model.
    from vae import lens_plots
    from vae.analysis.diagnostics import (
        ACTIVE_VARIANCE,
        MIN_TSNE_POINTS,
        TSNE_NEIGHBOURS,
        DensityGrids,
        DimensionKL,
        PlaneAccuracy,
        density_grids,
        explained_variance,
        kl_per_dimension,
        nearest_codes,
        off_the_data,
        plane_grid,
        plane_knn_accuracy,
        tsne_click_code,
        tsne_plane,
    )
    from vae.analysis.metrics import KNN_MAX_TRAIN
    from vae.analysis.overlays import (
        DENSITY_RESOLUTION,
        PRIOR_RING_MASSES,
        Ellipses,
        density_picture,
        density_sample,
        ellipse_mass,
        picture_extent,
        posterior_ellipses,
        prior_rings,
        rgba_png,
    )
    from vae.analysis.selections import attribute_strip, attribute_vector, check_selection, selection_csv
    from vae.analysis.likelihoods import bernoulli_entropy_floor, pixel_error_maps, pixel_likelihood_floor
    from vae.analysis.scores import (
        MAX_NLL_SAMPLES,
        ImageScores,
        PathDiagnostics,
        path_diagnostics,
        pixel_nll_maps,
        score_images,
        stochastic_reconstructions,
    )

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("FactorReport", "factor_report"), "vae.analysis.disentanglement"),
    "LatentModel": "vae.analysis.latent",
    "evaluate": "vae.analysis.metrics",
    **dict.fromkeys(("Projection", "dims_projection", "lerp", "pca_projection", "plane_projection", "slerp"),
                    "vae.analysis.projection"),
    **dict.fromkeys(("History", "ModelConfig", "TrainConfig", "TrainEvent"), "vae.config"),
    **dict.fromkeys(("DATASETS", "OFFLINE_DATASETS", "Dataset", "dataset_version", "list_datasets",
                     "list_user_datasets", "load_dataset", "load_user_dataset", "save_user_dataset"), "vae.data"),
    **dict.fromkeys(("CheckpointError", "DataError", "TrainingError", "VAEError"), "vae.errors"),
    **dict.fromkeys(("checkpoint_path", "codes_path", "next_free_name", "sanitize_name"), "vae.files"),
    **dict.fromkeys(("CheckpointInfo", "read_info"), "vae.io.catalog"),
    **dict.fromkeys(("load_model", "read_checkpoint", "save_checkpoint"), "vae.io.checkpoints"),
    **dict.fromkeys(("TestCodes", "encode_test_codes", "read_test_codes", "save_test_codes", "write_test_codes"),
                    "vae.io.codes"),
    **dict.fromkeys(("delete_checkpoint", "list_checkpoints", "scan_checkpoints"), "vae.io.listing"),
    **dict.fromkeys(("Timelapse", "read_timelapse"), "vae.io.timelapse"),
    "ImportChoices": "vae.io.importers",
    **dict.fromkeys(("ImportQuestions", "inspect_model_file", "save_imported_model"), "vae.io.model_import"),
    **dict.fromkeys(("UnsupportedLayer", "WebDecoder", "export_decoder", "lift_payload"), "vae.io.web"),
    **dict.fromkeys(("ConvVAE", "MLPVAE", "build_model", "count_parameters"), "vae.models"),
    **dict.fromkeys(("PRESET_DESCRIPTIONS", "PRESETS", "model_config_for", "preset_beta"), "vae.presets"),
    **dict.fromkeys(("MAX_RUNNING_JOBS", "JobSnapshot", "get_job", "name_in_training", "running_jobs", "start_job"),
                    "vae.training.jobs"),
    **dict.fromkeys(("fit", "train_model"), "vae.training.loop"),
    **dict.fromkeys(("RunOutcome", "run_training"), "vae.training.run"),
    **dict.fromkeys(("NEAR_SHARE", "LatentGrid", "class_direction", "dim_direction", "grid_values",
                     "latent_grid", "near_code_threshold", "near_codes", "offset_codes", "prior_centre", "random_direction"),
                    "vae.analysis.grids"),
    **dict.fromkeys(("MIN_TSNE_POINTS", "TSNE_NEIGHBOURS", "DensityGrids", "PlaneAccuracy", "density_grids", "explained_variance",
                     "nearest_codes", "off_the_data", "plane_grid", "plane_knn_accuracy", "tsne_click_code",
                     "tsne_plane", "ACTIVE_VARIANCE", "DimensionKL", "kl_per_dimension"), "vae.analysis.diagnostics"),
    "KNN_MAX_TRAIN": "vae.analysis.metrics",
    **dict.fromkeys(("DENSITY_RESOLUTION", "PRIOR_RING_MASSES", "Ellipses", "density_picture", "density_sample",
                     "ellipse_mass", "picture_extent", "posterior_ellipses", "prior_rings", "rgba_png"),
                    "vae.analysis.overlays"),
    **dict.fromkeys(("attribute_strip", "attribute_vector", "check_selection", "selection_csv"), "vae.analysis.selections"),
    **dict.fromkeys(("bernoulli_entropy_floor", "pixel_error_maps", "pixel_likelihood_floor"),
                    "vae.analysis.likelihoods"),
    **dict.fromkeys(("MAX_NLL_SAMPLES", "ImageScores", "PathDiagnostics", "path_diagnostics", "pixel_nll_maps",
                     "score_images", "stochastic_reconstructions"), "vae.analysis.scores"),
}
_SUBMODULES = ("analysis", "config", "data", "errors", "files", "images", "io", "models", "plots", "presets", "training",
               "grid_pictures", "comparison", "timelapse_video", "lens_plots")

__all__ = sorted([*_EXPORTS, "runtime_loaded"])


def runtime_loaded() -> bool:
    """Whether torch is imported in this process yet; the first model load imports it (about 2 s of CPU)."""
    return "torch" in sys.modules


def __getattr__(name: str) -> object:
    """Import the module behind ``vae.<name>`` on first use (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"vae.{name}")
    else:
        raise AttributeError(f"module 'vae' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
