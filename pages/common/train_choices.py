"""The Train page's choices: the images to learn from (with the user's uploads), the models, free names, layer sizes."""
from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

import vae
from pages.common.caches import clear_model_caches
from pages.common.datasets import load_dataset
from pages.common.model_access import checkpoint_dir

UPLOAD_CHOICE = "upload-new"  # the images box's entry that opens the uploader; no dataset has this name
UPLOAD_EXPLANATION = (
    "Upload a **.zip** file with one folder per kind of picture, for example `cats/` and `dogs/`, each "
    "holding PNG or JPEG images: the folder names become the class names. Or upload a **.npz** file "
    "saved with NumPy, holding an array `images` (one picture per row: N x height x width, or with a last "
    "axis of 3 for colour), and if you have them `labels` (one whole number per picture) and `class_names`. "
    "Colour pictures stay in colour (you can turn them grey when you train), and every picture is resized to "
    "the most common size "
    "(each side 4 to 256 pixels). "
    f"At most {vae.data.MAX_CLASSES} kinds of picture, and {vae.data.MAX_UPLOAD_PIXELS:,} pixels in all, a colour "
    f"pixel counting 3 (for example {vae.data.MAX_UPLOAD_PIXELS // (256 * 256):,} grey pictures of 256 x 256, "
    f"{vae.data.MAX_UPLOAD_PIXELS // (256 * 256 * 3):,} colour ones, or {vae.data.MAX_UPLOAD_PIXELS // (28 * 28):,} "
    f"grey ones of 28 x 28)."
)

CUSTOM_MODEL = "Custom"
MODEL_KINDS = {"mlp": "Fully connected (MLP)", "conv": "Convolutional"}
LIKELIHOODS = {
    "bernoulli": "Ink on paper (binary cross-entropy): sharp, best for digits",
    "gaussian": "Grey levels (squared error): smoother, for photos",
    "continuous-bernoulli": "Grey levels as grey (continuous Bernoulli): scores comparable with its papers",
}
COLLAPSE_WORDS = ("Against posterior collapse, where the model stops using its code numbers: a warm-up lets it learn "
                  "to redraw pictures before the KL weight pulls the codes together; free bits let each code number "
                  "carry a little information at no cost.")
MAX_WARMUP_EPOCHS = 500  # the page's epochs field goes up to 500 too


def dataset_options() -> list[str]:
    """Dataset names: offline ones first, then downloadable ones, the user's uploads, and the upload entry."""
    offline = vae.data.OFFLINE_DATASETS
    built_in = [*offline, *(name for name in vae.data.DATASETS if name not in offline)]
    return [*built_in, *vae.data.list_user_datasets(), UPLOAD_CHOICE]


def describe_dataset(name: str) -> str:
    """'name: description' for a selectbox; 'Your upload: pets' for the user's own images."""
    if name == UPLOAD_CHOICE:
        return "Upload your own images…"
    if name.startswith(vae.data.UPLOAD_PREFIX):
        return f"Your upload: {name[len(vae.data.UPLOAD_PREFIX):]}"
    return f"{name}: {vae.data.DATASETS.get(name, '')}"


def dataset_label(name: str) -> str:
    """A dataset's short label for model names: 'digits', or 'pets' for the upload 'upload:pets'."""
    if name == UPLOAD_CHOICE:
        return "my-images"
    return name[len(vae.data.UPLOAD_PREFIX):] if name.startswith(vae.data.UPLOAD_PREFIX) else name


def suggest_upload_name(file_name: str) -> str:
    """A free name for uploaded images from their file name: 'pets', or 'pets-2' when 'pets' is taken."""
    try:
        base = vae.sanitize_name(PurePosixPath(upload_file_name(file_name)).stem)
    except vae.VAEError:
        base = "my-images"
    taken = set(vae.data.list_user_datasets())
    try:
        return vae.next_free_name(base, lambda name: f"{vae.data.UPLOAD_PREFIX}{name}" in taken)
    except vae.VAEError:
        return base


def upload_file_name(file_name: str) -> str:
    """The uploaded file's own base name (error messages name it), or 'upload.<suffix>' when unusable."""
    base = PurePosixPath(str(file_name).replace("\\", "/")).name
    if 0 < len(base) <= 200 and base not in (".", "..") and "\x00" not in base:
        return base
    return "upload" + PurePosixPath(base).suffix[:8]


def save_uploaded_images(file_name: str, content: bytes, name: str) -> vae.data.Dataset:
    """Check uploaded .zip or .npz bytes and store them as the user's images ``name``; returns the Dataset.

    The bytes go to a temporary folder that is deleted afterwards; only vae.data writes the stored copy.
    Raises a VAEError (DataError) with a plain message when the file or the name cannot be used.
    """
    with tempfile.TemporaryDirectory(prefix="vae-upload-") as scratch:
        source = Path(scratch) / upload_file_name(file_name)
        source.write_bytes(content)
        dataset_name = vae.data.save_user_dataset(source, name)
    load_dataset.clear()  # an upload may replace earlier images of the same name
    clear_model_caches()
    return load_dataset(dataset_name)


def describe_upload(dataset: vae.data.Dataset) -> str:
    """The success message after adding images: how many, how many classes, what size."""
    count = len(dataset.train_images) + len(dataset.test_images)
    classes = len(dataset.class_names)
    height, width = dataset.image_shape
    colour = "colour" if dataset.channels > 1 else "grey"
    return (f"Added {count:,} images in {classes} {'class' if classes == 1 else 'classes'}, stored in {colour} at "
            f"{height}x{width} pixels, as “{describe_dataset(dataset.name)}”. They are now chosen above.")


def describe_model(name: str) -> str:
    """'preset: description' for a selectbox."""
    if name == CUSTOM_MODEL:
        return "Custom: choose the network yourself"
    return f"{name}: {vae.PRESET_DESCRIPTIONS.get(name, '')}"


def free_name(name: str) -> str:
    """``name``, or the next of ``name-2``, ``name-3``... that no model in the folder or run in training has."""
    folder = checkpoint_dir()

    def taken(candidate: str) -> bool:
        return vae.checkpoint_path(folder, candidate).exists() or vae.name_in_training(candidate, folder)

    try:
        return vae.next_free_name(vae.sanitize_name(name), taken)
    except vae.VAEError:
        return name


def collapse_options(place, warmup_key: str, free_bits_key: str) -> tuple[int, float]:
    """The KL warm-up (epochs) and free bits (nats per code number) fields; both 0 (off) unless the user sets them."""
    place.caption(COLLAPSE_WORDS)
    warmup = place.number_input("KL warm-up (epochs)", 0, MAX_WARMUP_EPOCHS, step=1, key=warmup_key,
                                persist_state="session",
                                help="The KL weight rises in even steps from 0 to its value over this many epochs "
                                     "(0: off). 5 to 20 is usual.")
    free_bits = place.number_input("Free bits (nats per code number)", 0.0, vae.config.MAX_FREE_BITS, step=0.25,
                                   format="%.2f", key=free_bits_key, persist_state="session",
                                   help="Each code number's average KL counts at least this much, so below it the "
                                        "model is not pushed to forget (Kingma et al., 2016). 0: off; 0.1 to 2 is "
                                        "usual.")
    return int(warmup), float(free_bits)


def parse_sizes(text: str, what: str) -> tuple[int, ...]:
    """Read layer sizes like "400" or "256, 128"; ValueError with a plain reason otherwise."""
    parts = [part.strip() for part in str(text).replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise ValueError(f"Enter the {what} as whole numbers separated by commas, for example 256,128.")
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(f"The {what} {text!r} are not whole numbers separated by commas "
                         f"(for example 256,128).") from None
    if len(sizes) > 8 or min(sizes) < 1 or max(sizes) > 4096:
        raise ValueError(f"The {what} must be 1 to 8 numbers, each between 1 and 4096.")
    return sizes
