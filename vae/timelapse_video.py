"""A training time-lapse as a film for slides: frames drawn with Pillow, saved as an animated GIF or an MP4 (no torch).

Every frame shows the test images' codes after one epoch on the time-lapse's ONE plane and in its ONE frame
(vae.io.timelapse), coloured by class as on the map, with the model's name and the epoch written on it, so
the dots move and the axes stay still. The MP4 is H.264 from PyAV, whose wheel carries its own FFmpeg
(in-process: no ffmpeg program to install); the GIF is Pillow's.
"""
from __future__ import annotations

import io
import math
from fractions import Fraction
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vae.io.timelapse import Timelapse
from vae.plots import class_color, plot_classes

FRAME_WIDTH, FRAME_HEIGHT = 1280, 720  # pixels: a 16:9 slide; both even, as H.264's 4:2:0 colour needs
PLOT_LEFT, PLOT_TOP, PLOT_SIZE = 330, 96, 580  # pixels: the square plot area inside the frame
LEGEND_LEFT = 960  # pixels: where the class legend starts
DOT_RADIUS = 4  # pixels
TARGET_SECONDS = 8.0  # a film of many epochs plays in about this long
MIN_FPS, MAX_FPS = 2, 25  # epochs per second: few epochs stay readable, many stay smooth
HOLD_SECONDS = 2.0  # the last epoch stays on screen this long (the finished map)
MAX_FILM_FRAMES = 120  # epochs in a film at most (evenly spread, first and last kept): bounds memory and size
MP4_QUALITY = "20"  # x264's constant rate factor: lower is sharper; 20 keeps one-pixel text crisp
TITLE_SIZE, EPOCH_SIZE, TEXT_SIZE = 30, 44, 20  # font sizes, pixels
MAX_TITLE_CHARS = 50  # a longer model name is cut (with an ellipsis) so it never runs under the epoch
MAX_LEGEND_ROWS = 17  # classes listed; the rest are summed up in one line
GREY_STEP = 8  # the GIF palette's grey ramp: 32 levels for anti-aliased text
BACKGROUND, INK, FAINT, GRID = (255, 255, 255), (34, 34, 34), (110, 110, 110), (225, 225, 225)


def film_epochs(epochs: np.ndarray) -> np.ndarray:
    """The recorded frames a film shows: all up to MAX_FILM_FRAMES, else evenly spread (first and last kept)."""
    count = len(epochs)
    if count <= MAX_FILM_FRAMES:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, MAX_FILM_FRAMES)).astype(np.int64))


def frames_per_second(frame_count: int) -> int:
    """Epochs shown per second, so a long run plays in about TARGET_SECONDS."""
    return int(min(MAX_FPS, max(MIN_FPS, math.ceil(frame_count / TARGET_SECONDS))))


def hold_frames(fps: int) -> int:
    """Extra copies of the last frame in an MP4 (a fixed-rate film holds a picture by repeating it)."""
    return int(round(HOLD_SECONDS * fps))


def to_pixels(points: np.ndarray, frame: tuple[float, float, float, float]) -> np.ndarray:
    """(N, 2) plane positions -> (N, 2) pixel centres in the plot area; outside the frame they sit on its edge."""
    x_min, x_max, y_min, y_max = frame
    share = (np.asarray(points, np.float64) - [x_min, y_min]) / [x_max - x_min, y_max - y_min]
    share = np.nan_to_num(share, nan=0.5).clip(0.0, 1.0)
    return np.stack([PLOT_LEFT + share[:, 0] * PLOT_SIZE, PLOT_TOP + (1.0 - share[:, 1]) * PLOT_SIZE], axis=1)


def render_frame(timelapse: Timelapse, index: int, model_name: str) -> np.ndarray:
    """Recorded frame ``index`` as an (FRAME_HEIGHT, FRAME_WIDTH, 3) uint8 RGB picture."""
    picture = Image.new("RGB", (FRAME_WIDTH, FRAME_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    labels, names = plot_classes(timelapse.labels, timelapse.class_names)
    draw_axes(draw, timelapse)
    colours = [_rgb(class_color(label)) for label in range(len(names))]
    for (x, y), label in zip(to_pixels(timelapse.points[index], timelapse.frame), labels):
        draw.ellipse((x - DOT_RADIUS, y - DOT_RADIUS, x + DOT_RADIUS, y + DOT_RADIUS), fill=colours[label])
    draw_titles(draw, model_name, int(timelapse.epochs[index]), int(timelapse.epochs[-1]))
    draw_legend(draw, names, colours)
    return np.asarray(picture)


def render_frames(timelapse: Timelapse, model_name: str) -> Iterator[np.ndarray]:
    """The film's frames (see :func:`film_epochs`), one at a time: a film is never all in memory as RGB."""
    for index in film_epochs(timelapse.epochs):
        yield render_frame(timelapse, int(index), model_name)


def draw_axes(draw: ImageDraw.ImageDraw, timelapse: Timelapse) -> None:
    """The plot's box, a light grid at round values with their numbers, and the axis names."""
    x_min, x_max, y_min, y_max = timelapse.frame
    font = _font(TEXT_SIZE)
    right, bottom = PLOT_LEFT + PLOT_SIZE, PLOT_TOP + PLOT_SIZE
    for value in round_values(x_min, x_max):
        x = PLOT_LEFT + (value - x_min) / (x_max - x_min) * PLOT_SIZE
        draw.line((x, PLOT_TOP, x, bottom), fill=GRID)
        draw.text((x, bottom + 6), _number(value), fill=FAINT, font=font, anchor="mt")
    for value in round_values(y_min, y_max):
        y = PLOT_TOP + (1.0 - (value - y_min) / (y_max - y_min)) * PLOT_SIZE
        draw.line((PLOT_LEFT, y, right, y), fill=GRID)
        draw.text((PLOT_LEFT - 8, y), _number(value), fill=FAINT, font=font, anchor="rm")
    draw.rectangle((PLOT_LEFT, PLOT_TOP, right, bottom), outline=FAINT)
    across, up = timelapse.projection.labels
    draw.text((PLOT_LEFT + PLOT_SIZE / 2, FRAME_HEIGHT - 4), _fit(across), fill=INK, font=font, anchor="md")
    draw.text((PLOT_LEFT - 60, PLOT_TOP - 12), _fit(up), fill=INK, font=font, anchor="ls")


def round_values(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round numbers (steps of 1, 2 or 5 times a power of ten) between ``low`` and ``high``."""
    rough = (high - low) / count
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    first = math.ceil(low / step)
    return [k * step for k in range(first, int(math.floor(high / step)) + 1)]


def draw_titles(draw: ImageDraw.ImageDraw, model_name: str, epoch: int, last_epoch: int) -> None:
    """The model's name (plain text, cut when long) and the epoch, large, at the top."""
    draw.text((40, 44), _fit(model_name, MAX_TITLE_CHARS), fill=INK, font=_font(TITLE_SIZE), anchor="ls")
    draw.text((FRAME_WIDTH - 40, 50), f"Epoch {epoch} of {last_epoch}", fill=INK, font=_font(EPOCH_SIZE),
              anchor="rs")


def draw_legend(draw: ImageDraw.ImageDraw, names: Sequence[str], colours: Sequence[tuple[int, int, int]]) -> None:
    """One coloured dot and name per class, down the right side; past MAX_LEGEND_ROWS a count of the rest."""
    font = _font(TEXT_SIZE)
    row = PLOT_SIZE / (MAX_LEGEND_ROWS + 1)
    for position, (name, colour) in enumerate(zip(names[:MAX_LEGEND_ROWS], colours)):
        y = PLOT_TOP + (position + 0.5) * row
        draw.ellipse((LEGEND_LEFT - 7, y - 7, LEGEND_LEFT + 7, y + 7), fill=colour)
        draw.text((LEGEND_LEFT + 18, y), _fit(name), fill=INK, font=font, anchor="lm")
    if len(names) > MAX_LEGEND_ROWS:
        y = PLOT_TOP + (MAX_LEGEND_ROWS + 0.5) * row
        draw.text((LEGEND_LEFT - 7, y), f"and {len(names) - MAX_LEGEND_ROWS} more classes", fill=FAINT, font=font,
                  anchor="lm")


def timelapse_gif(timelapse: Timelapse, model_name: str) -> bytes:
    """The film as an animated GIF that loops; the last epoch stays HOLD_SECONDS."""
    shown = film_epochs(timelapse.epochs)
    frame_ms = int(round(1000 / frames_per_second(len(shown)) / 10) * 10)  # GIF delays are in hundredths of a second
    durations = [frame_ms] * (len(shown) - 1) + [int(HOLD_SECONDS * 1000)]
    palette = gif_palette(timelapse)
    pictures = (Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE)
                for frame in render_frames(timelapse, model_name))
    first = next(pictures)
    buffer = io.BytesIO()
    first.save(buffer, format="GIF", save_all=True, append_images=pictures, duration=durations, loop=0,
               optimize=False)
    return buffer.getvalue()


def gif_palette(timelapse: Timelapse) -> Image.Image:
    """The GIF's one palette: the class colours, the frame's own colours and a grey ramp for the edges of letters.

    Mapping every frame onto these few known colours is ten times faster than an adaptive palette per
    frame (0.015 s against 0.15 s at 1280 x 720) and keeps each class's colour exact in every frame.
    """
    count = len(plot_classes(timelapse.labels, timelapse.class_names)[1])
    classes = list(dict.fromkeys(_rgb(class_color(label)) for label in range(count)))
    greys = [(level, level, level) for level in range(0, 256, GREY_STEP)]
    colours = [BACKGROUND, INK, FAINT, GRID, *greys, *classes][:256]
    palette = Image.new("P", (1, 1))
    palette.putpalette([channel for colour in colours for channel in colour] + [0] * 3 * (256 - len(colours)))
    return palette


def timelapse_mp4(timelapse: Timelapse, model_name: str) -> bytes:
    """The film as an H.264 MP4 (yuv420p: plays in slides and browsers); the last epoch is held HOLD_SECONDS."""
    import av  # only the MP4 needs it (about 0.1 s to import)

    fps = frames_per_second(len(film_epochs(timelapse.epochs)))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = FRAME_WIDTH, FRAME_HEIGHT, "yuv420p"
        stream.options = {"crf": MP4_QUALITY, "preset": "veryfast"}
        frame = None
        for frame in render_frames(timelapse, model_name):
            _encode(container, stream, frame)
        for _ in range(hold_frames(fps)):
            _encode(container, stream, frame)
        for packet in stream.encode():  # flush the encoder's delayed frames
            container.mux(packet)
    return buffer.getvalue()


def _encode(container, stream, frame: np.ndarray) -> None:
    import av

    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _fit(text: str, limit: int = 30) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-9 else "0"


def _rgb(colour: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    return ImageColor.getrgb(colour)[:3]
