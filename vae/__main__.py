"""Command line: python -m vae train | eval | info."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from vae.checkpoints import load_model, save_checkpoint
from vae.config import PRESETS, TrainConfig, model_config_for
from vae.codes import save_test_codes
from vae.data import list_datasets, load_dataset, load_user_dataset
from vae.errors import VAEError
from vae.io.onnx_export import export_onnx
from vae.io.web import export_decoder, write_web_decoder
from vae.latent import LatentModel
from vae.metrics import evaluate
from vae.training import TrainEvent, train_model


def build_parser() -> argparse.ArgumentParser:
    """The four sub-commands and their options."""
    parser = argparse.ArgumentParser(prog="python -m vae", description="Train, evaluate and inspect VAE checkpoints.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model and save a checkpoint")
    train.add_argument("--dataset", required=True, help=f"one of: {', '.join(list_datasets())}, or a .npz/.zip file")
    train.add_argument("--model", default="classic-mlp", help=f"a preset ({', '.join(PRESETS)}) or a type (mlp, conv)")
    train.add_argument("--latent-dim", type=int, default=None, help="latent size, 1..64 (default: the preset's)")
    train.add_argument("--hidden", default=None, help="MLP hidden sizes, comma-separated, e.g. 400 or 256,128")
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
            sub.add_argument("--samples", type=int, default=100, help="importance samples for the NLL estimate")
    _add_export_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors print one line and exit 2, no traceback."""
    args = build_parser().parse_args(argv)
    try:
        return {"train": run_train, "eval": run_eval, "info": run_info, "codes": run_codes,
                "export": run_export}[args.command](args)
    except VAEError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _dataset_for(name: str):
    return load_user_dataset(name) if Path(name).suffix.lower() in (".npz", ".zip") else load_dataset(name)


def run_train(args: argparse.Namespace) -> int:
    """Train with a progress bar, evaluate, save."""
    dataset = _dataset_for(args.dataset)
    model_config = model_config_for(args.model, dataset.image_shape, args.latent_dim)
    overrides = {}
    if args.hidden:
        overrides["hidden_sizes"] = tuple(int(s) for s in args.hidden.split(",") if s.strip())
    if args.likelihood:
        overrides["likelihood"] = args.likelihood
    if overrides:
        model_config = type(model_config)(**{**model_config.to_dict(), **overrides})
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, beta=args.beta, seed=args.seed)
    module, history = _train_with_bar(dataset, model_config, train_config)
    if history.status != "completed":
        print(history.message, file=sys.stderr)
    if history.epochs_done == 0:
        return 1
    model = LatentModel(module=module, dataset=dataset.name, class_names=dataset.class_names)
    metrics = evaluate(model, dataset)
    path = save_checkpoint(args.out, module, dataset=dataset.name, class_names=dataset.class_names,
                           train_config=train_config, history=history, metrics=metrics)
    print(f"saved {path} ({path.stat().st_size / 1e6:.2f} MB)")
    _save_map_codes(path, model, dataset)
    print(_format_metrics(metrics))
    return 0 if history.status == "completed" else 1


def _save_map_codes(path: Path, model: LatentModel, dataset) -> None:
    """Save the test images' codes beside the checkpoint, so the app draws its map without loading it."""
    written = save_test_codes(path, model, dataset)
    if written is None:
        print("no codes saved: the app cannot open this dataset by name, so it encodes the images itself")
        return
    print(f"saved {written} (the map's {len(dataset.test_images):,} test-image codes)")


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
    print(json.dumps({"path": args.path, "dataset": model.dataset, **metrics}) if args.json else _format_metrics(metrics))
    return 0


def _format_metrics(metrics: dict[str, float]) -> str:
    return "\n".join([
        f"test ELBO      {metrics['test_elbo']:.2f} nats/image (higher is better)",
        f"NLL estimate   {metrics['nll']:.2f} nats/image (IWAE bound, lower is better)",
        f"kNN accuracy   {metrics['knn_accuracy']:.3f} (k=5, test means vs train means)",
        f"active units   {int(metrics['active_units'])}",
    ])


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
    print("\n".join(lines))
    return 0


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
    print(f"saved {written} ({written.stat().st_size / 1e6:.2f} MB, the decoder of a {model.latent_dim}-D model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
