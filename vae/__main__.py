"""Command line: python -m vae train | eval | info."""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path

from tqdm import tqdm

from vae.checkpoints import load_model, save_checkpoint
from vae.config import MAX_HIDDEN_LAYERS, PRESETS, TrainConfig, model_config_for
from vae.codes import save_test_codes
from vae.data import list_datasets, load_dataset, load_user_dataset
from vae.errors import VAEError
from vae.latent import LatentModel
from vae.metrics import evaluate
from vae.training import TrainEvent, train_model

MAX_NLL_SAMPLES = 10_000  # importance samples per image for the NLL estimate
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
        raise argparse.ArgumentTypeError(f"give a whole number from 1 to {MAX_NLL_SAMPLES}")
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
    train.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default=None)
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate (Adam)")
    train.add_argument("--beta", type=float, default=1.0, help="KL weight (beta-VAE)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="where to write the .pt checkpoint")
    for name, text in (("eval", "print the model's metrics"), ("info", "print config, dataset and history"),
                       ("codes", "save the test images' codes beside the checkpoint (the app's map then opens at once)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("path", help="a .pt checkpoint (ours or a classic PyTorch-example state_dict)")
        if name == "eval":
            sub.add_argument("--json", action="store_true", help="print one JSON object")
            sub.add_argument("--samples", type=sample_count, default=100,
                             help=f"importance samples for the NLL estimate (1 to {MAX_NLL_SAMPLES})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every bad input (options, numbers, files) prints one ``error: ...`` line and exits 2."""
    try:
        args = build_parser().parse_args(argv)
        return {"train": run_train, "eval": run_eval, "info": run_info, "codes": run_codes}[args.command](args)
    except (VAEError, UsageError) as error:
        say(f"error: {error}", error=True)
    except OSError as error:  # e.g. --out in a folder that cannot be written
        where = f" ({Path(error.filename).name})" if error.filename else ""
        say(f"error: a file could not be read or written{where}: {error.strerror or error}", error=True)
    return 2


def _dataset_for(name: str):
    return load_user_dataset(name) if Path(name).suffix.lower() in (".npz", ".zip") else load_dataset(name)


def run_train(args: argparse.Namespace) -> int:
    """Train with a progress bar, evaluate, save."""
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, beta=args.beta,
                               seed=args.seed)  # checked before the images are loaded
    model_config_for(args.model, latent_dim=args.latent_dim)  # an unknown model or latent size, too
    _prepare_output(Path(args.out))
    dataset = _dataset_for(args.dataset)
    model_config = model_config_for(args.model, dataset.image_shape, args.latent_dim)
    overrides = {}
    if args.hidden:
        overrides["hidden_sizes"] = args.hidden
    if args.likelihood:
        overrides["likelihood"] = args.likelihood
    if overrides:
        model_config = type(model_config)(**{**model_config.to_dict(), **overrides})
    module, history = _train_with_bar(dataset, model_config, train_config)
    if history.status != "completed":
        say(history.message, error=True)
    if history.epochs_done == 0:
        return 1
    model = LatentModel(module=module, dataset=dataset.name, class_names=dataset.class_names)
    metrics = evaluate(model, dataset)
    path = save_checkpoint(args.out, module, dataset=dataset.name, class_names=dataset.class_names,
                           train_config=train_config, history=history, metrics=metrics)
    say(f"saved {path} ({path.stat().st_size / 1e6:.2f} MB)")
    _save_map_codes(path, model, dataset)
    say(*_format_metrics(metrics))
    return 0 if history.status == "completed" else 1


def _prepare_output(out: Path) -> None:
    """Make --out's folder now, so a path that cannot be written fails before training, not after."""
    if out.is_dir():
        raise VAEError(f"--out {out.name} is a folder; give a file name such as my-model.pt.")
    out.parent.mkdir(parents=True, exist_ok=True)


def _save_map_codes(path: Path, model: LatentModel, dataset) -> None:
    """Save the test images' codes beside the checkpoint, so the app draws its map without loading it."""
    written = save_test_codes(path, model, dataset)
    if written is None:
        say("no codes saved: the app cannot open this dataset by name, so it encodes the images itself")
        return
    say(f"saved {written} (the map's {len(dataset.test_images):,} test-image codes)")


def _train_with_bar(dataset, model_config, train_config):
    bar = tqdm(total=train_config.epochs, unit="epoch", dynamic_ncols=True)

    def report(event: TrainEvent) -> None:
        if event.kind == "epoch":
            bar.update(1)
            bar.set_postfix(loss=f"{event.loss:.1f}", test_elbo=f"{event.test_elbo:.1f}", img_s=f"{event.images_per_s:.0f}")

    try:
        return train_model(dataset.train_images, dataset.test_images, model_config, train_config, report)
    finally:
        bar.close()


def run_eval(args: argparse.Namespace) -> int:
    """Metrics on the model's own dataset."""
    model = load_model(args.path)
    if not model.dataset:
        raise VAEError(f"{args.path} does not say which dataset it was trained on, so it cannot be evaluated.")
    metrics = evaluate(model, load_dataset(model.dataset), nll_samples=args.samples)
    if args.json:
        say(json.dumps({"path": args.path, "dataset": model.dataset, **metrics}))
    else:
        say(*_format_metrics(metrics))
    return 0


def _format_metrics(metrics: dict[str, float]) -> list[str]:
    return [
        f"test ELBO      {metrics['test_elbo']:.2f} nats/image (higher is better)",
        f"NLL estimate   {metrics['nll']:.2f} nats/image (IWAE bound, lower is better)",
        f"kNN accuracy   {metrics['knn_accuracy']:.3f} (k=5, test means vs train means)",
        f"active units   {int(metrics['active_units'])}",
    ]


def run_codes(args: argparse.Namespace) -> int:
    """Encode the model's test images and save their codes beside the checkpoint."""
    model = load_model(args.path)
    if not model.dataset:
        raise VAEError(f"{args.path} does not say which dataset it was trained on, so it has no test images to encode.")
    _save_map_codes(Path(args.path), model, load_dataset(model.dataset))
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Config, dataset and history, as text."""
    model = load_model(args.path)
    lines = [f"file        {args.path}", f"dataset     {model.dataset or 'unknown'}",
             f"classes     {', '.join(model.class_names)}", f"created     {model.created or 'unknown'}",
             f"model       {json.dumps(model.config.to_dict())}",
             f"training    {json.dumps(model.train_config.to_dict()) if model.train_config else 'unknown'}"]
    history = model.history
    for epoch, (loss, elbo) in enumerate(zip(history.get("train_loss", []), history.get("test_elbo", [])), start=1):
        lines.append(f"epoch {epoch:>4}  train loss {loss:9.2f}  test ELBO {elbo:9.2f}")
    if history.get("message"):
        lines.append(history["message"])
    lines += [f"metric      {key} = {value:.4g}" for key, value in model.metrics.items()]
    say(*lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
