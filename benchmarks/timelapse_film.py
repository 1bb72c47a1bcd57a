"""The training time-lapse film (vae.timelapse_video): how long drawing and encoding take, how big the files are,
and the README's picture of a few epochs side by side.

    python benchmarks/timelapse_film.py [--checkpoint PATH] [--epochs 12] [--picture benchmarks/figures/timelapse.png]

Without ``--checkpoint`` it trains the bundled recipe of checkpoints/mnist5k-mlp-2d.pt (classic MLP, 2-D codes,
offline mnist-5k) for ``--epochs`` epochs in a temporary folder, which records the time-lapse. It prints the
seconds per drawn frame, the GIF's and the MP4's (PyAV, in-process FFmpeg) seconds and sizes, and, when
imageio-ffmpeg is installed, the same MP4 through its bundled ffmpeg program (the alternative we measured).
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vae import timelapse_video as video  # noqa: E402
from vae.files import write_atomically  # noqa: E402
from vae.io.timelapse import read_timelapse  # noqa: E402

PICTURE_EPOCHS = 4  # frames in the README picture: the first epoch, two between, the last
MAX_PICTURE_BYTES = 300 * 1024


def train_recipe(folder: Path, epochs: int) -> Path:
    """Train the classic 2-D MLP on mnist-5k (seed 0) into ``folder``; returns the checkpoint."""
    from vae.config import TrainConfig
    from vae.data import load_dataset
    from vae.presets import model_config_for
    from vae.training.run import run_training

    target = folder / "mnist5k-mlp-2d.pt"
    run_training(load_dataset("mnist-5k"), model_config_for("classic-mlp", latent_dim=2),
                 TrainConfig(epochs=epochs, seed=0), target)
    return target


def timed(make, *args) -> tuple[object, float]:
    start = time.perf_counter()
    result = make(*args)
    return result, time.perf_counter() - start


def measure(timelapse, name: str) -> None:
    """Print drawing and encoding seconds and the file sizes."""
    _, frame_s = timed(video.render_frame, timelapse, len(timelapse.epochs) - 1, name)
    gif, gif_s = timed(video.timelapse_gif, timelapse, name)
    mp4, mp4_s = timed(video.timelapse_mp4, timelapse, name)
    frames = len(video.film_epochs(timelapse.epochs))
    print(f"{frames} epochs, {video.FRAME_WIDTH} x {video.FRAME_HEIGHT}: one frame drawn in {frame_s * 1000:.0f} ms")
    print(f"GIF  (Pillow)           {gif_s:5.2f} s  {len(gif) / 1e6:5.2f} MB")
    print(f"MP4  (PyAV, H.264)      {mp4_s:5.2f} s  {len(mp4) / 1e6:5.2f} MB")
    measure_imageio(timelapse, name)


def measure_imageio(timelapse, name: str) -> None:
    """The same MP4 through imageio-ffmpeg's bundled ffmpeg program (a subprocess writing a file), if installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        print("MP4  (imageio-ffmpeg)   not installed")
        return
    fps = video.frames_per_second(len(video.film_epochs(timelapse.epochs)))
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "film.mp4"
        start = time.perf_counter()
        writer = imageio_ffmpeg.write_frames(str(target), (video.FRAME_WIDTH, video.FRAME_HEIGHT), fps=fps,
                                             codec="libx264", pix_fmt_out="yuv420p", macro_block_size=16,
                                             output_params=["-crf", video.MP4_QUALITY, "-preset", "veryfast"])
        writer.send(None)
        last = None
        for last in video.render_frames(timelapse, name):
            writer.send(np.ascontiguousarray(last))
        for _ in range(video.hold_frames(fps)):
            writer.send(np.ascontiguousarray(last))
        writer.close()
        print(f"MP4  (imageio-ffmpeg)   {time.perf_counter() - start:5.2f} s  {target.stat().st_size / 1e6:5.2f} MB")


def write_picture(timelapse, name: str, target: Path) -> None:
    """Four epochs' frames (the first, two between, the last) at half size in a 2 x 2 grid, saved atomically."""
    picks = np.round(np.linspace(0, len(timelapse.epochs) - 1, PICTURE_EPOCHS)).astype(int)
    size = (video.FRAME_WIDTH // 2, video.FRAME_HEIGHT // 2)
    picture = Image.new("RGB", (2 * size[0], 2 * size[1]), "white")
    for position, index in enumerate(picks):
        frame = Image.fromarray(video.render_frame(timelapse, int(index), name))
        corner = ((position % 2) * size[0], (position // 2) * size[1])
        picture.paste(frame.resize(size, Image.Resampling.LANCZOS), corner)
    buffer = io.BytesIO()
    picture.quantize(colors=64).save(buffer, format="PNG", optimize=True)
    if buffer.tell() > MAX_PICTURE_BYTES:
        raise SystemExit(f"The picture takes {buffer.tell():,} bytes, over {MAX_PICTURE_BYTES:,}")
    write_atomically(target, buffer.getvalue())
    print(f"Picture: {target} ({buffer.tell() / 1024:.0f} KB, epochs {[int(timelapse.epochs[i]) for i in picks]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a model with a time-lapse (default: train one)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the model trained when none is given")
    parser.add_argument("--picture", type=Path, help="write the README picture here (e.g. benchmarks/figures/timelapse.png)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = args.checkpoint or train_recipe(Path(folder), args.epochs)
        timelapse = read_timelapse(checkpoint)
        if timelapse is None:
            raise SystemExit(f"{checkpoint} has no usable time-lapse")
        name = checkpoint.stem
        measure(timelapse, name)
        if args.picture:
            write_picture(timelapse, name, args.picture)


if __name__ == "__main__":
    main()
