"""Command line: python -m vae train | eval | info | codes | import."""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path

from tqdm import tqdm

from vae.analysis.latent import LatentModel
from vae.analysis.metrics import evaluate
from vae.analysis.scores import MAX_NLL_SAMPLES
from vae.config import LIKELIHOODS, MAX_HIDDEN_LAYERS, TrainConfig, TrainEvent
from vae.data import (
    SHAPES_SETS,
    as_grayscale,
    base_name,
    describe_size,
    list_datasets,
    load_dataset,
    load_user_dataset,
    shapes_ready,
)
from vae.errors import VAEError
from vae.io.checkpoints import load_model, model_from_checkpoint, read_checkpoint
from vae.io.codes import save_test_codes
from vae.io.foreign import import_file
from vae.io.importers import ImportChoices
from vae.io.model_import import write_imported
from vae.io.onnx_export import export_onnx
from vae.io.web import export_decoder, write_web_decoder
from vae.presets import PRESETS, model_config_for, preset_beta
from vae.training.distributed import World, leave, world_from_environment
from vae.training.run import run_training

FLOOR_SHOWN = 0.005  # nats per image: an entropy floor below this is binary data (0 up to rounding)
DENSITY_WORDS = {
    "gaussian": "a density of grey levels with a fixed spread, not comparable with Bernoulli or papers' figures",
    "continuous-bernoulli": "grey levels scored as grey levels; a density (it can be negative) that compares with "
                            "the continuous Bernoulli papers, not with binarized MNIST",
}
# Characters never printed: controls (terminal escapes start with one), invisible formatting (bidi
# overrides, zero-width), line and paragraph separators.
_UNPRINTABLE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


class UsageError(Exception):
    """A command line that cannot be run (unknown option, a value that is not a number)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line gives one ``error: ...`` line (see :func:`main`) instead of usage text."""

    def error(self, message: str) -> None:
        raise UsageError(f"{message} (see python -m vae --help)")


def printable(text: object) -> str:
    """``text`` without control characters, so a file's strings cannot move the cursor or recolour the terminal."""
    return "".join(char for char in str(text) if unicodedata.category(char) not in _UNPRINTABLE_CATEGORIES)


def say(*lines: object, error: bool = False) -> None:
    """Print each line with its control characters removed (one line each, whatever it holds)."""
    print("\n".join(printable(line) for line in lines), file=sys.stderr if error else sys.stdout)


def hidden_sizes(text: str) -> tuple[int, ...]:
    """``--hidden``: comma-separated whole numbers, e.g. 400 or 256,128."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(text)!r} is not whole numbers separated by commas "
                                         f"(for example 400 or 256,128)") from None
    if not 1 <= len(sizes) <= MAX_HIDDEN_LAYERS:
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_HIDDEN_LAYERS} hidden layer sizes")
    return sizes


def sample_count(text: str) -> int:
    """``--samples``: a whole number from 1 to MAX_NLL_SAMPLES."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_NLL_SAMPLES:
        raise argparse.ArgumentTypeError(f"give a whole number from 1 to {MAX_NLL_SAMPLES} (the papers use 5000)")
    return count


def build_parser() -> argparse.ArgumentParser:
    """The four sub-commands and their options."""
    parser = _Parser(prog="python -m vae", description="Train, evaluate and inspect VAE checkpoints.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model and save a checkpoint")
    train.add_argument("--dataset", required=True, help=f"one of: {', '.join(list_datasets())}, or a .npz/.zip file")
    train.add_argument("--model", default="classic-mlp", help=f"a preset ({', '.join(PRESETS)}) or a type (mlp, conv)")
    train.add_argument("--latent-dim", type=int, default=None, help="latent size, 1..64 (default: the preset's)")
    train.add_argument("--hidden", type=hidden_sizes, default=None,
                       help="MLP hidden sizes, comma-separated, e.g. 400 or 256,128")
    train.add_argument("--likelihood", choices=list(LIKELIHOODS), default=None,
                       help="continuous-bernoulli scores grey levels as grey levels (figures that compare with "
                            "its papers); bernoulli is the classic binary cross-entropy")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=128,
                       help="images per step; under torchrun, per step of all processes together (each takes its share)")
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate (Adam)")
    train.add_argument("--beta", type=float, default=None, help="KL weight (beta-VAE; default: the preset's, else 1)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--kl-warmup", type=int, default=0, metavar="EPOCHS",
                       help="against posterior collapse: the KL weight rises from 0 to beta over this many epochs")
    train.add_argument("--free-bits", type=float, default=0.0, metavar="NATS",
                       help="against posterior collapse: each latent dim's KL counts at least this much "
                            "(Kingma et al. 2016; 0.1 to 2 is usual)")
    train.add_argument("--out", required=True, help="where to write the .pt checkpoint")
    train.add_argument("--grayscale", action="store_true",
                       help="turn colour images grey first (colour stays colour otherwise)")
    for name, text in (("eval", "print the model's metrics"), ("info", "print config, dataset and history"),
                       ("codes", "save the test images' codes beside the checkpoint (the app's map then opens at once)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("path", help="a .pt checkpoint (ours or a classic PyTorch-example state_dict)")
        if name == "eval":
            sub.add_argument("--json", action="store_true", help="print one JSON object")
            sub.add_argument("--samples", type=sample_count, default=100,
                             help=f"importance samples for the NLL estimate (1 to {MAX_NLL_SAMPLES:,}, the papers' "
                                  f"k; memory stays bounded, time grows with it: minutes at 5,000)")
    _add_import_parser(commands)
    _add_export_command(commands)
    return parser


def _add_import_parser(commands) -> None:
    imports = commands.add_parser("import", help="convert another program's VAE (PyTorch state_dict, Keras file) "
                                                 "into this app's format")
    imports.add_argument("source", help="a PyTorch state_dict (.pt/.pth), Keras .keras, .weights.h5 or .h5 file")
    imports.add_argument("out", help="where to write the .pt checkpoint")
    imports.add_argument("--dataset", default=None, help="the images the model was trained on (e.g. fashion-mnist); "
                                                         "without it the model is saved with no dataset")
    spread = imports.add_mutually_exclusive_group()
    spread.add_argument("--log-var", dest="spread", action="store_const", const="log-var",
                        help="the spread head gives log-variances: std = exp(0.5 * s)")
    spread.add_argument("--log-std", dest="spread", action="store_const", const="log-std",
                        help="the spread head gives log standard deviations: std = exp(s)")
    imports.add_argument("--image-size", default=None, help="image height x width, e.g. 28x28")
    imports.add_argument("--mean-layer", default=None, help="the layer that gives the means")
    imports.add_argument("--spread-layer", default=None, help="the layer that gives the spreads")
    imports.add_argument("--normalize", default=None, metavar="MEAN,STD",
                         help="the training script's transforms.Normalize, e.g. 0.5,0.5 for inputs in [-1, 1]")
    imports.add_argument("--linear-output", action="store_true", help="the decoder ends without a sigmoid")


def main(argv: list[str] | None = None) -> int:
    """Run one command; every bad input (options, numbers, files) prints one ``error: ...`` line and exits 2."""
    try:
        args = build_parser().parse_args(argv)
        commands = {"train": run_train, "eval": run_eval, "info": run_info, "codes": run_codes, "import": run_import,
                    "export": run_export}
        return commands[args.command](args)
    except (VAEError, UsageError) as error:
        say(f"error: {error}", error=True)
    except OSError as error:  # e.g. --out in a folder that cannot be written
        where = f" ({Path(error.filename).name})" if error.filename else ""
        say(f"error: a file could not be read or written{where}: {error.strerror or error}", error=True)
    return 2


def _dataset_for(name: str, grayscale: bool = False, quiet: bool = False):
    """A dataset by name or an .npz/.zip file; colour stays colour unless ``grayscale``.

    ``quiet``: no bar while a shapes set is drawn (the other processes of a torchrun launch; process 0 shows it).
    """
    if Path(name).suffix.lower() in (".npz", ".zip"):
        return load_user_dataset(name, grayscale=grayscale)
    base, _ = base_name(name)
    if base.lower() in SHAPES_SETS and not shapes_ready(base):  # drawn once, about 10 s: show it
        with tqdm(total=100, desc=f"drawing {base}", unit="%", dynamic_ncols=True, disable=quiet) as bar:
            dataset = load_dataset(name, progress=lambda done: bar.update(round(100 * done) - bar.n))
    else:
        dataset = load_dataset(name)
    return as_grayscale(dataset) if grayscale else dataset


def run_train(args: argparse.Namespace) -> int:
    """Train with a progress bar, evaluate, save the checkpoint and its map's codes (vae.training.run).

    Under torchrun every process trains on its share of each batch; process 0 alone prints and saves.
    """
    world = world_from_environment()
    beta = preset_beta(args.model) if args.beta is None else args.beta
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, beta=beta,
                               seed=args.seed, kl_warmup=args.kl_warmup,
                               free_bits=args.free_bits)  # checked before the images are loaded
    model_config_for(args.model, latent_dim=args.latent_dim)  # an unknown model or latent size, too
    if world.is_main:
        _prepare_output(Path(args.out))
    dataset = _dataset_for(args.dataset, args.grayscale, quiet=not world.is_main)
    model_config = model_config_for(args.model, dataset.image_shape, args.latent_dim, dataset.channels)
    overrides = {}
    if args.hidden:
        overrides["hidden_sizes"] = args.hidden
    if args.likelihood:
        overrides["likelihood"] = args.likelihood
    if overrides:
        model_config = type(model_config)(**{**model_config.to_dict(), **overrides})
    try:
        outcome = _train_with_bar(dataset, model_config, train_config, Path(args.out), world)
    finally:
        leave(world)
    if not world.is_main:
        return 0 if outcome.status == "completed" else 1
    if outcome.status != "completed":
        say(outcome.message, error=True)
    if outcome.path is None:
        return 1
    say(f"saved {outcome.path} ({outcome.path.stat().st_size / 1e6:.2f} MB)"
        + (f", trained by {world.size} processes" if world.distributed else ""))
    _report_codes(outcome.codes_path, len(dataset.test_images))
    say(*_format_metrics(outcome.metrics, model_config.likelihood))
    if outcome.advice:
        say(outcome.advice)
    return 0 if outcome.status == "completed" else 1


def _prepare_output(out: Path) -> None:
    """Make --out's folder now, so a path that cannot be written fails before training, not after."""
    if out.is_dir():
        raise VAEError(f"--out {out.name} is a folder; give a file name such as my-model.pt.")
    out.parent.mkdir(parents=True, exist_ok=True)


def _save_map_codes(path: Path, model: LatentModel, dataset) -> None:
    """Save the test images' codes beside the checkpoint, so the app draws its map without loading it."""
    _report_codes(save_test_codes(path, model, dataset), len(dataset.test_images))


def _report_codes(written: Path | None, count: int) -> None:
    if written is None:
        say("no codes saved: the app encodes the test images itself the first time it shows this model")
    else:
        say(f"saved {written} (the map's {count:,} test-image codes)")


def _train_with_bar(dataset, model_config, train_config, out: Path, world: World):
    bar = tqdm(total=train_config.epochs, unit="epoch", dynamic_ncols=True, disable=not world.is_main)

    def report(event: TrainEvent) -> None:
        if event.kind == "epoch":
            bar.update(1)
            bar.set_postfix(loss=f"{event.loss:.1f}", test_elbo=f"{event.test_elbo:.1f}", img_s=f"{event.images_per_s:.0f}")

    try:
        return run_training(dataset, model_config, train_config, out, measure=True, callback=report, world=world)
    finally:
        bar.close()


def run_eval(args: argparse.Namespace) -> int:
    """Metrics on the model's own dataset."""
    model = load_model(args.path)
    if not model.dataset:
        raise VAEError(f"{args.path} does not say which dataset it was trained on, so it cannot be evaluated.")
    metrics = evaluate(model, _dataset_for(model.dataset), nll_samples=args.samples, with_dci=True)
    if args.json:
        say(json.dumps({"path": args.path, "dataset": model.dataset, "likelihood": model.config.likelihood, **metrics}))
    else:
        say(*_format_metrics(metrics, model.config.likelihood))
    return 0


def _format_metrics(metrics: dict[str, float], likelihood: str = "bernoulli") -> list[str]:
    lines = [f"test ELBO      {metrics['test_elbo']:.2f} nats/image (higher is better)"]
    if "nll" not in metrics:  # a run measured without the NLL (never from eval)
        return lines
    samples = f"IWAE bound, k={int(metrics.get('nll_samples', 100))}, lower is better"
    lines += [f"NLL estimate   {metrics['nll']:.2f} nats/image ({samples})"]
    if "elbo_nll_gap" in metrics:
        lines.append(f"ELBO-NLL gap   {metrics['elbo_nll_gap']:.2f} nats/image (what the encoder's approximate codes "
                     f"cost; at least 0 on average, not for every image)")
    lines += _floor_lines(metrics, likelihood)
    lines += [f"kNN accuracy   {metrics['knn_accuracy']:.3f} (k=5, test means vs train means)",
              f"active units   {int(metrics['active_units'])}"]
    if "mig" in metrics:
        lines.append(f"MIG            {metrics['mig']:.3f} (0..1, higher is more disentangled; known factors)")
    if "dci_disentanglement" in metrics:
        lines.append(f"DCI            disentanglement {metrics['dci_disentanglement']:.3f}, completeness "
                     f"{metrics['dci_completeness']:.3f}, informativeness {metrics['dci_informativeness']:.3f}")
    return lines


def _floor_lines(metrics: dict[str, float], likelihood: str) -> list[str]:
    """The honest reading of a Bernoulli ELBO on grey images: the images' entropy floor and how far above it."""
    floor = metrics.get("entropy_floor")
    if likelihood != "bernoulli" or floor is None:
        return [f"likelihood     {likelihood}: {DENSITY_WORDS.get(likelihood, 'not a Bernoulli')}"]
    if floor < FLOOR_SHOWN:
        return ["entropy floor  0 (the images are black and white: figures compare with binarized MNIST)"]
    return [f"entropy floor  {floor:.2f} nats/image: the images are grey levels, not binary, so every Bernoulli "
            f"ELBO and NLL includes this much that no model can remove",
            f"above floor    {-metrics['test_elbo'] - floor:.2f} nats/image (-ELBO minus the floor)"]


def run_codes(args: argparse.Namespace) -> int:
    """Encode the model's test images and save their codes beside the checkpoint."""
    model = load_model(args.path)
    if not model.dataset:
        raise VAEError(f"{args.path} does not say which dataset it was trained on, so it has no test images to encode.")
    _save_map_codes(Path(args.path), model, _dataset_for(model.dataset))
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Config, dataset, the processes it was trained with, and history, as text."""
    fields = read_checkpoint(args.path)
    model_from_checkpoint(fields, Path(args.path).name)  # a file whose model cannot be rebuilt fails here, as in eval
    processes = fields.get("world_size")  # None for another program's file (Keras, a bare state_dict)
    lines = [f"file        {args.path}", f"dataset     {fields['dataset'] or 'unknown'}",
             f"classes     {', '.join(fields['class_names'])}", f"created     {fields['created'] or 'unknown'}",
             f"model       {json.dumps(fields['model_config'])}",
             f"training    {json.dumps(fields['train_config']) if fields['train_config'] else 'unknown'}",
             f"processes   {processes} ({'one process' if processes == 1 else 'torchrun'}; world_size)"
             if processes else "processes   unknown (not saved by this app)"]
    history = fields["history"]
    for epoch, (loss, elbo) in enumerate(zip(history.get("train_loss", []), history.get("test_elbo", [])), start=1):
        lines.append(f"epoch {epoch:>4}  train loss {loss:9.2f}  test ELBO {elbo:9.2f}")
    if history.get("message"):
        lines.append(history["message"])
    lines += [f"metric      {key} = {value:.4g}" for key, value in fields["metrics"].items()]
    say(*lines)
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Convert another program's model file and save it in our format, with the dataset the user named."""
    dataset = _dataset_for(args.dataset) if args.dataset else None
    raw = import_file(Path(args.source), _import_choices(args), dataset.name if dataset else "",
                      dataset.class_names if dataset else ())
    module = model_from_checkpoint(raw, Path(args.source).name)
    if dataset is not None and tuple(dataset.image_dims) != tuple(module.config.image_dims):
        raise VAEError(f"The {dataset.name} images are {describe_size(dataset.image_dims)}, but the model reads "
                       f"{describe_size(module.config.image_dims)} images; name the dataset it was trained on.")
    path = write_imported(raw, Path(args.source).name, Path(args.out))  # with where it came from, as the form does
    say(f"saved {path}: {raw['imported_from']}")
    if dataset is None:
        say("no dataset given, so none is stored: the app cannot show this model's test images or classes. "
          "Import again with --dataset NAME (for example --dataset fashion-mnist) to add them.")
    else:
        _save_map_codes(path, LatentModel(module=module, dataset=dataset.name, class_names=dataset.class_names), dataset)
    return 0


def _import_choices(args: argparse.Namespace) -> ImportChoices:
    return ImportChoices(
        mean_layer=args.mean_layer, spread_layer=args.spread_layer, spread=args.spread,
        image_size=_pair(args.image_size, "x", int, "--image-size", "28x28") if args.image_size else None,
        output="none" if args.linear_output else None,
        normalize=_pair(args.normalize, ",", float, "--normalize", "0.5,0.5") if args.normalize else None)


def _pair(text: str, separator: str, kind: type, option: str, example: str) -> tuple:
    try:
        first, second = (kind(part.strip()) for part in text.lower().split(separator))
    except ValueError:
        raise VAEError(f"{option} takes two numbers like {example}, got {text!r}.") from None
    return first, second


EXPORT_SUFFIXES = {"web": ".decoder.vaeweb", "onnx": ".decoder.onnx"}  # default file beside the checkpoint


def _add_export_command(commands) -> None:
    export = commands.add_parser("export", help="write the model's decoder for other tools (ONNX) or for web pages")
    export.add_argument("path", help="a .pt checkpoint (ours or a classic PyTorch-example state_dict)")
    export.add_argument("--format", required=True, choices=sorted(EXPORT_SUFFIXES),
                        help="onnx: input codes (B, D), output images (B, H, W); web: one file that "
                             "pages/decoder.js runs (layout: vae/io/web.py)")
    export.add_argument("--out", default=None, help="file to write (default: beside the checkpoint, "
                                                     "<name>.decoder.onnx or <name>.decoder.vaeweb)")


def run_export(args: argparse.Namespace) -> int:
    """Write the decoder as ONNX or in the web format; the file is written atomically."""
    model = load_model(args.path)
    source = Path(args.path)
    out = Path(args.out) if args.out else source.with_name(source.stem + EXPORT_SUFFIXES[args.format])
    try:
        written = write_web_decoder(out, export_decoder(model)) if args.format == "web" else export_onnx(model, out)
    except OSError as error:
        raise VAEError(f"Could not write {out} ({error.strerror or error}). Choose a file in a folder you can write to.") from None
    say(f"saved {written} ({written.stat().st_size / 1e6:.2f} MB, the decoder of a {model.latent_dim}-D model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
