"""Real-browser helpers: the measuring instrument of benchmarks/app_speed.py and of the browser tests (-m e2e).

A Streamlit server in its own process group, headless Debian Chromium through Playwright, and
the few page actions the tests need: wait for a rerun to end, find empty spots and isolated dots
on a latent map and click it at data coordinates, read the decoded image, time a click or a
slider move inside the page. The map helpers work on both kinds of map: the Latent space page's
canvas component (pages/common/latent_map.js, read through its ``describe()``) and the Interpolate
page's plotly chart; they tell them apart by whether ``.st-key-<key> .latent-map`` exists.
Verified patterns: shared/STREAMLIT_NOTES.md. Not collected by pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # playwright may be missing: test_browser.py then skips (or fails in CI) with a message
    from playwright.sync_api import Browser, Locator, Page, Playwright

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
SLOW_START = Path(__file__).resolve().parent / "slow_start"  # its sitecustomize.py slows a server's first `import vae`
CHROMIUM = os.environ.get("VAE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 2200}  # tall: Streamlit scrolls an inner container, screenshots would cut
START_TIMEOUT_S = 120  # server start on a busy 2-core machine (imports torch, streamlit)
PAGE_TIMEOUT_MS = 120_000  # first page load encodes the test set and builds the scatter
ACTION_TIMEOUT_MS = 60_000  # one click or key press until its effect shows
# Widget keys of the app (pages/*.py), used through their st-key-<key> class.
EXPLORE_CHART = "explore_scatter"
INTERPOLATE_CHART = "interp_scatter"
SIDEBAR_MODEL = "sidebar_model"
UPLOAD_KEY = "models_upload"


# ---------------------------------------------------------------- server


def chromium_path() -> str | None:
    """The Chromium executable to drive, or None when it is not installed."""
    return shutil.which(CHROMIUM)


def free_port() -> int:
    """A TCP port that is free on localhost right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class StreamlitServer:
    """A running ``streamlit run app.py``; ``spawned_at`` is time.perf_counter() just before the spawn."""

    process: subprocess.Popen
    port: int
    log_path: Path
    spawned_at: float

    @property
    def url(self) -> str:
        """The app's address."""
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def start_server(checkpoint_dir: Path, log_path: Path, port: int | None = None,
                 extra_env: dict[str, str] | None = None, slow_first_import_s: float = 0.0) -> StreamlitServer:
    """Spawn ``streamlit run app.py`` in a new process group, models read from ``checkpoint_dir``.

    With ``slow_first_import_s`` the server's first ``import vae`` (in the app's first run) takes that
    much longer (benchmarks/slow_start/sitecustomize.py): the first seconds after a start on a busy machine.
    Returns at once; call :func:`wait_healthy` before opening a page.
    """
    port = port or free_port()
    env = {**os.environ, "VAE_CHECKPOINT_DIR": str(checkpoint_dir), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    if slow_first_import_s > 0:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SLOW_START), env.get("PYTHONPATH")]))
        env["VAE_SLOW_IMPORT_S"] = str(slow_first_import_s)
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - the child owns it until stop_server
    spawned_at = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    return StreamlitServer(process, port, log_path, spawned_at)


def wait_healthy(server: StreamlitServer, timeout_s: float = START_TIMEOUT_S) -> None:
    """Block until /_stcore/health answers "ok"; RuntimeError with the log if the server dies or is slow.

    The answer must come from this server: its own log names the address it listens on (another
    process that took the port meanwhile would answer too, while this one exits with "in use").
    """
    deadline = time.monotonic() + timeout_s
    health = f"{server.url}_stcore/health"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(health, timeout=5) as answer:
                ours = f"127.0.0.1:{server.port}" in server.log_tail(100_000)
                if answer.status == 200 and answer.read().strip() == b"ok" and ours:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # polling interval of a readiness probe, not synchronisation
    raise RuntimeError(f"streamlit did not answer {health} within {timeout_s:.0f} s:\n{server.log_tail()}")


def stop_server(server: StreamlitServer, grace_s: float = 10.0) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after ``grace_s``."""
    if server.process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(server.process.pid, sig)  # start_new_session: the group id is the child's pid
        except ProcessLookupError:
            return
        try:
            server.process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


# ---------------------------------------------------------------- browser


def launch_browser(playwright: Playwright) -> Browser:
    """Headless Debian Chromium (never a Playwright-downloaded browser)."""
    path = chromium_path()
    if path is None:
        raise RuntimeError(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def new_page(browser: Browser) -> Page:
    """A page in its own browser context (its own cookies, so its own Streamlit session)."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    return page


def wait_idle(page: Page, timeout_ms: int = ACTION_TIMEOUT_MS) -> None:
    """Wait until the app is connected and no script or fragment run is going (clicks during a rerun get lost)."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app !== null && app.getAttribute('data-test-script-state') === 'notRunning'
                && app.getAttribute('data-test-connection-state') === 'CONNECTED';
        }""",
        timeout=timeout_ms,
    )


def keyed(page: Page, key: str) -> Locator:
    """The element a widget with ``key=`` renders: Streamlit gives its container the class ``st-key-<key>``."""
    return page.locator(f".st-key-{key}")


def open_app(page: Page, url: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Open ``url`` and wait until the page's first run has drawn its title and finished."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=timeout_ms)  # every page has st.title
    wait_idle(page, timeout_ms)


def open_page_from_menu(page: Page, title: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Click a page in the sidebar navigation, as a user would, and wait for it to finish drawing."""
    wait_idle(page, timeout_ms)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    page.get_by_role("heading", name=title_heading(title), exact=True).first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)


# Notes every set of labels the sidebar's page menu shows, in order (run it with page.add_init_script).
RECORD_MENUS_JS = """
window.__menusSeen = [];
const noteMenu = () => {
  const labels = [...document.querySelectorAll('[data-testid="stSidebarNav"] a')]
    .map(link => link.innerText.split('\\n').pop().trim());
  const seen = window.__menusSeen, last = seen[seen.length - 1];
  if (labels.length && JSON.stringify(labels) !== JSON.stringify(last)) seen.push(labels);
};
new MutationObserver(noteMenu).observe(document, {subtree: true, childList: true, characterData: true});
"""


def menus_seen(page: Page) -> list[list[str]]:
    """Every set of sidebar menu labels shown since the page opened (needs RECORD_MENUS_JS)."""
    return page.evaluate("window.__menusSeen || []")


def menu_labels(page: Page) -> list[str]:
    """The labels of the sidebar's page menu now (the icon's name left out)."""
    return [text.split("\n")[-1].strip() for text in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def menu_link(page: Page, url_path: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> Locator:
    """The sidebar's link to ``/url_path``, as soon as the menu shows any link (whatever the run is doing)."""
    page.locator('[data-testid="stSidebarNav"] a').first.wait_for(timeout=timeout_ms)
    return page.locator(f'[data-testid="stSidebarNav"] a[href$="/{url_path}"]').first


def title_heading(menu_title: str) -> str:
    """The ``st.title`` each menu entry leads to."""
    return {"Latent space": "Latent space", "Interpolate": "Interpolate", "Train": "Train a model",
            "Models": "Models", "Start": "VAE Latent Explorer", "Generate": "Generate new pictures",
            "Reconstructions": "Reconstructions"}.get(menu_title, menu_title)


# ---------------------------------------------------------------- the latent plane

# Two kinds of map: the Latent space page draws its own canvas (pages/common/latent_map.js, a custom
# component), the Interpolate page a plotly chart. Every helper below reads either through one
# small page-side adapter, ``plotOf(withDots)``, which gives null until the map is drawn, else
#   kind: "canvas" | "plotly";  left, top, width, height: the plot area in page (client) pixels;
#   x_range, y_range: the data shown (x_range[0] at the left edge, y_range[1] at the top);
#   toPage(x, y): the page pixel of a plane point;  count: visible test-image dots;
#   with withDots also dots: [{x, y, index, label, trace}] (visible test-image dots), grid: page
#   pixels of plotly's invisible click grid, extras: page pixels of plotly's other markers
#   (cross, path, ends). The canvas is read through its ``describe()`` (hidden classes left out,
#   no grid: a click reports the nearest dot within HIT_PIXELS, else the exact plane point);
#   plotly through ``_fullLayout`` / ``_fullData`` (plain arrays; ``gd.data`` holds base64).
CANVAS_HIT_PIXELS = 6  # pages/common/latent_map.js HIT_PIXELS: a click this close to a dot picks that test image

_PLOT_JS = """(key, withDots) => {
    const container = document.querySelector(`.st-key-${key}`);
    if (container === null) return null;
    const root = container.querySelector('.latent-map');
    if (root !== null) {
        const map = root.parentElement.__latentMap, canvas = root.querySelector('canvas');
        if (!map || !map.data || !canvas || !(Number(root.dataset.drawn || 0) > 0)) return null;
        if (!(canvas.getBoundingClientRect().width > 0)) return null;
        const d = map.describe();
        if (!(d.width > 1 && d.height > 1)) return null;  // describe() gives at least 1 px, even unsized
        const [x0, x1] = d.x_range, [y0, y1] = d.y_range;
        const toPage = (x, y) => [d.left + (x - x0) / (x1 - x0) * d.width, d.top + (y1 - y) / (y1 - y0) * d.height];
        const plot = {kind: 'canvas', left: d.left, top: d.top, width: d.width, height: d.height,
                      x_range: d.x_range, y_range: d.y_range, toPage, count: d.index.length,
                      dots: [], grid: [], extras: []};
        if (withDots) plot.dots = d.index.map((index, i) => ({x: d.x[i], y: d.y[i], index, label: d.label[i],
                                                               trace: null}));
        return plot;
    }
    const gd = container.querySelector('.js-plotly-plot');
    if (gd === null || gd._fullLayout === undefined || gd._fullData === undefined || gd._fullData.length < 2)
        return null;
    const drag = gd.querySelector('.nsewdrag');
    if (drag === null) return null;
    const box = drag.getBoundingClientRect();
    if (!(box.width > 0)) return null;
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const toPage = (x, y) => [box.left + xa.d2p(x), box.top + ya.d2p(y)];
    // Trace 0: the invisible click grid; traces with customdata: test images (trace k + 1 is class k);
    // the rest (cross, path, ends) carry no image. Classes hidden through the legend are left out.
    const traces = gd._fullData.map((t, k) => ({t, k, image: k > 0 && !!(t.customdata && t.customdata.length)}))
        .filter(({t}) => t.visible === true);
    const plot = {kind: 'plotly', left: box.left, top: box.top, width: box.width, height: box.height,
                  x_range: Array.from(xa.range), y_range: Array.from(ya.range), toPage,
                  count: traces.reduce((n, {t, image}) => n + (image ? t.x.length : 0), 0),
                  dots: [], grid: [], extras: []};
    if (withDots) for (const {t, k, image} of traces) for (let i = 0; i < (t.x || []).length; i++) {
        if (image) plot.dots.push({x: t.x[i], y: t.y[i], index: t.customdata[i], label: k - 1, trace: k});
        else (k === 0 ? plot.grid : plot.extras).push(toPage(t.x[i], t.y[i]));
    }
    return plot;
}"""


def _with_plot(body: str) -> str:
    """A page function of ``args = [chart_key, ...]`` whose ``body`` may call ``plotOf(withDots)``."""
    return f"""args => {{
        const plotOf = withDots => ({_PLOT_JS})(args[0], withDots);
        {body}
    }}"""


def wait_for_scatter(page: Page, chart_key: str = EXPLORE_CHART, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Wait until the map with key ``chart_key`` is drawn and its plot area sized.

    Canvas map: ``.latent-map`` exists, its ``dataset.drawn`` > 0 and the plot area has a width.
    Plotly chart: traces laid out (``_fullData``) and the plot area (``.nsewdrag``) sized.
    """
    page.wait_for_function(_with_plot("return plotOf(false) !== null;"), arg=[chart_key], timeout=timeout_ms)


def map_kind(page: Page, chart_key: str = EXPLORE_CHART) -> str | None:
    """ "canvas" (the Latent space page's map), "plotly" (the Interpolate page's), or None while not drawn."""
    return page.evaluate(_with_plot("const plot = plotOf(false); return plot && plot.kind;"), [chart_key])


def map_state(page: Page, chart_key: str = EXPLORE_CHART) -> dict | None:
    """The canvas map's own ``describe()``: plot box, ranges, ``drawn``, the visible dots' x, y, index and
    label, ``marker`` and ``hidden`` classes. None when ``chart_key`` is no canvas map (yet)."""
    return page.evaluate(
        """key => {
            const root = document.querySelector(`.st-key-${key} .latent-map`);
            const map = root && root.parentElement.__latentMap;
            return map && map.data ? map.describe() : null;
        }""",
        chart_key,
    )


def scatter_traces(page: Page, chart_key: str = EXPLORE_CHART) -> list[dict]:
    """The map's points as traces: ``name``, ``x``, ``y``, ``customdata`` (test image numbers).

    Plotly chart: every trace of ``_fullData`` (plain arrays), the click grid first, cross and path too.
    Canvas map: one entry per class that has visible dots, in class order, named as in the legend,
    with its ``label``; there is no grid or cross trace.
    """
    return page.evaluate(
        """key => {
            const root = document.querySelector(`.st-key-${key} .latent-map`);
            if (root !== null) {
                const map = root.parentElement.__latentMap, d = map.describe(), names = map.data.class_names;
                const traces = new Map();
                d.label.forEach((label, i) => {
                    const name = label < names.length ? names[label] : `class ${label}`;
                    if (!traces.has(label)) traces.set(label, {name, label, x: [], y: [], customdata: []});
                    const t = traces.get(label);
                    t.x.push(d.x[i]); t.y.push(d.y[i]); t.customdata.push(d.index[i]);
                });
                return Array.from(traces.values()).sort((a, b) => a.label - b.label);
            }
            const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
            return gd._fullData.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []),
                                           customdata: Array.from(t.customdata || [])}));
        }""",
        chart_key,
    )


def data_point_count(page: Page, chart_key: str = EXPLORE_CHART) -> int:
    """Number of visible test-image dots (no click grid, cross or path; hidden classes left out)."""
    count = page.evaluate(_with_plot("const plot = plotOf(false); return plot && plot.count;"), [chart_key])
    if count is None:
        raise RuntimeError(f"the map {chart_key!r} is not drawn")
    return int(count)


def plane_to_page(page: Page, x: float, y: float, chart_key: str = EXPLORE_CHART) -> tuple[float, float]:
    """Page pixel of data point (x, y) on either kind of map."""
    return tuple(page.evaluate(_with_plot("return plotOf(false).toPage(args[1], args[2]);"),
                               [chart_key, float(x), float(y)]))


def empty_spots(page: Page, count: int, chart_key: str = EXPLORE_CHART, min_pixels: float = 25.0) -> list[tuple[float, float]]:
    """Up to ``count`` plane points at least ``min_pixels`` from every visible dot, spread over the plane.

    Candidates lie on a 12 x 12 lattice inside the axes (not on the border); each next one is the
    candidate farthest from those already chosen, so consecutive clicks land at different spots.
    On a plotly chart the cross and path markers count as dots (its click grid does not).
    """
    spots = page.evaluate(
        _with_plot("""
            const minPixels = args[1], plot = plotOf(true);
            const dots = plot.dots.map(d => plot.toPage(d.x, d.y)).concat(plot.extras);
            const [x0, x1] = plot.x_range, [y0, y1] = plot.y_range;
            const found = [];
            for (let i = 1; i <= 12; i++) for (let j = 1; j <= 12; j++) {
                const x = x0 + (x1 - x0) * i / 13, y = y0 + (y1 - y0) * j / 13;
                const [px, py] = plot.toPage(x, y);
                let nearest = Infinity;
                for (const d of dots) nearest = Math.min(nearest, Math.hypot(d[0] - px, d[1] - py));
                if (nearest >= minPixels) found.push([x, y]);
            }
            return found;"""),
        [chart_key, float(min_pixels)],
    )
    return spread(spots, count)


def spread(points: list[list[float]], count: int) -> list[tuple[float, float]]:
    """Pick ``count`` points greedily far apart (farthest-point order), starting from the first."""
    if not points:
        return []
    chosen = [points[0]]
    rest = points[1:]
    while rest and len(chosen) < count:
        best = max(rest, key=lambda p: min((p[0] - c[0]) ** 2 + (p[1] - c[1]) ** 2 for c in chosen))
        chosen.append(best)
        rest.remove(best)
    return [(float(x), float(y)) for x, y in chosen]


def isolated_dots(page: Page, count: int, chart_key: str = EXPLORE_CHART, margin: float = 1.5) -> list[dict]:
    """Up to ``count`` test-image dots that a click surely reports, spread over the plane.

    The mouse lands on whole pixels. The canvas map reports the visible dot nearest the mouse if it
    is within CANVAS_HIT_PIXELS; plotly reports the point nearest the mouse, be it a dot or a cell
    of its invisible click grid. So a dot is safe when, from the whole pixel nearest to it, it is
    at least ``margin`` pixels closer than any other visible dot (or, on plotly, grid cell), and on
    the canvas within CANVAS_HIT_PIXELS (rounding keeps it within 0.71). Each result is
    {"x", "y", "index", "label", "trace"} (trace: plotly's curve number; None on the canvas).
    Dots within 10 pixels of the border are left out.
    """
    dots = page.evaluate(
        _with_plot("""
            const margin = args[1], hit = args[2], plot = plotOf(true);
            const limit = plot.kind === 'canvas' ? hit : Infinity;
            const cell = Math.max(12, Math.ceil(margin + 2)), buckets = new Map();
            const id = (px, py) => Math.floor(px / cell) + ',' + Math.floor(py / cell);
            const add = p => {
                const k = id(p.px, p.py);
                if (!buckets.has(k)) buckets.set(k, []);
                buckets.get(k).push(p);
            };
            const all = plot.dots.map(d => {
                const [px, py] = plot.toPage(d.x, d.y), p = {...d, px, py};
                add(p);
                return p;
            });
            for (const [px, py] of plot.grid) add({px, py});
            const inner = all.filter(p => p.px > plot.left + 10 && p.py > plot.top + 10
                && p.px < plot.left + plot.width - 10 && p.py < plot.top + plot.height - 10);
            const step = Math.max(1, Math.floor(inner.length / 3000));  // enough candidates, fast at 70k dots
            const safe = [];
            for (let n = 0; n < inner.length; n += step) {
                const d = inner[n];
                const cx = Math.round(d.px), cy = Math.round(d.py);  // where the mouse can land
                const own = Math.hypot(d.px - cx, d.py - cy), need = (own + margin) ** 2;
                let ok = own <= limit;  // then every other point must be at least own + margin away
                const i0 = Math.floor(cx / cell), j0 = Math.floor(cy / cell);
                near: for (let a = -1; a <= 1 && ok; a++) for (let b = -1; b <= 1; b++)
                    for (const o of buckets.get((i0 + a) + ',' + (j0 + b)) || [])
                        if (o !== d && (o.px - cx) ** 2 + (o.py - cy) ** 2 < need) { ok = false; break near; }
                if (ok) safe.push({x: d.x, y: d.y, index: d.index, label: d.label, trace: d.trace});
            }
            return safe;"""),
        [chart_key, float(margin), float(CANVAS_HIT_PIXELS)],
    )
    picked = spread([[dot["x"], dot["y"]] for dot in dots], count)
    by_position = {(float(dot["x"]), float(dot["y"])): dot for dot in dots}
    return [by_position[point] for point in picked]


def wait_for_point_count(page: Page, count: int, chart_key: str = EXPLORE_CHART,
                         timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Wait until the map is drawn with exactly ``count`` visible test-image dots (e.g. after switching model)."""
    page.wait_for_function(
        _with_plot("const plot = plotOf(false); return plot !== null && plot.count === args[1];"),
        arg=[chart_key, int(count)],
        timeout=timeout_ms,
    )


def choose_option(page: Page, key: str, option_text: str | re.Pattern) -> None:
    """Pick the option containing (or matching) ``option_text`` in the selectbox with ``key=``: open it, click it."""
    wait_idle(page)
    keyed(page, key).get_by_role("combobox").click()
    page.get_by_role("option").filter(has_text=option_text).first.click()


def click_plane(page: Page, x: float, y: float, chart_key: str = EXPLORE_CHART) -> None:
    """One mouse click at data point (x, y) (on plotly, move-then-click could hit the previously hovered cell)."""
    px, py = plane_to_page(page, x, y, chart_key)
    page.mouse.click(round(px), round(py))  # whole pixels, as isolated_dots assumes


# ---------------------------------------------------------------- the decoded image

# The decoded image on the Latent space page: the first picture in the column that holds its download button.
DECODED_IMG_JS = """() => {
    const column = document.querySelector('.st-key-explore_download')?.closest('[data-testid="stColumn"]');
    return column ? column.querySelector('[data-testid="stImage"] img') : null;
}"""


def decoded_src(page: Page) -> str:
    """The ``src`` of the decoded image (a /media/<hash> URL: it changes exactly when the PNG bytes change)."""
    return page.evaluate(f"() => {{ const img = ({DECODED_IMG_JS})(); return img ? img.src : ''; }}")


def wait_decoded_shown(page: Page, timeout_ms: int = PAGE_TIMEOUT_MS) -> str:
    """Wait until the decoded image is loaded; returns its src."""
    page.wait_for_function(
        f"() => {{ const img = ({DECODED_IMG_JS})(); return img !== null && img.complete && img.naturalWidth > 0; }}",
        timeout=timeout_ms,
    )
    return decoded_src(page)


def image_bytes(page: Page, src: str) -> bytes:
    """The bytes behind an image URL, fetched in the page's own session."""
    response = page.request.get(src)
    assert response.ok, f"GET {src} -> {response.status}"
    return response.body()


# In-page timing: a capture listener stamps the first mousedown / keydown after arming; a watcher
# resolves when the decoded image's src has changed AND the new picture has loaded (it is on screen).
_TIMING_JS = """() => {
    if (window.__vaeTiming) return;
    window.__vaeTiming = {input: null, done: null};
    for (const type of ['mousedown', 'keydown'])
        document.addEventListener(type, () => {
            if (window.__vaeTiming.input === null) window.__vaeTiming.input = performance.now();
        }, true);
    window.__vaeWatchDecoded = (oldSrc) => {
        window.__vaeTiming.input = null;
        window.__vaeTiming.done = null;
        const find = %s;
        const finish = () => { window.__vaeTiming.done = performance.now(); };
        const check = () => {
            const img = find();
            if (!img || img.src === oldSrc) return false;
            if (img.complete && img.naturalWidth > 0) finish();
            else img.addEventListener('load', finish, {once: true});
            return true;
        };
        if (check()) return;
        const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
        observer.observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    };
}""" % DECODED_IMG_JS


def arm_decoded_watch(page: Page) -> str:
    """Start watching for a new decoded image; returns the current src (call right before the action)."""
    page.evaluate(_TIMING_JS)
    old = decoded_src(page)
    page.evaluate("old => window.__vaeWatchDecoded(old)", old)
    return old


def decoded_latency_ms(page: Page, timeout_ms: int = ACTION_TIMEOUT_MS) -> float:
    """Wait for the armed watcher; milliseconds from the first mousedown/keydown since arming to the new image."""
    page.wait_for_function("() => window.__vaeTiming.done !== null", timeout=timeout_ms)
    return float(page.evaluate("() => window.__vaeTiming.done - window.__vaeTiming.input"))


def timed_plane_click(page: Page, x: float, y: float, chart_key: str = EXPLORE_CHART) -> float:
    """Click (x, y) on the Latent space plane; milliseconds until the new decoded image is on screen."""
    wait_idle(page)
    arm_decoded_watch(page)
    click_plane(page, x, y, chart_key)
    latency = decoded_latency_ms(page)
    wait_idle(page)
    return latency


LATENT_SLIDER_KEY = re.compile(r"explore_z_(\d+)")  # pages/explore.py slider_key: the latent sliders, drawn in the map


def slider_thumb(page: Page, key: str) -> Locator:
    """The draggable thumb of the slider with ``key=``; for a latent slider (``explore_z_<dim>``), the range
    input the map draws for that dim (its value stays in session state under that key)."""
    latent = LATENT_SLIDER_KEY.fullmatch(key)
    if latent:
        return page.locator(f'.st-key-{EXPLORE_CHART} .latent-map-sliders input[data-dim="{latent.group(1)}"]')
    return keyed(page, key).get_by_role("slider")


def timed_slider_move(page: Page, key: str, key_name: str = "PageUp") -> float:
    """Press one key (PageUp: a tenth of the range) on a slider's thumb; ms from the key to the new image.

    A latent slider in the map sends its value once the keys pause (map_live.js COMMIT_PAUSE_MS): included.
    """
    wait_idle(page)
    thumb = slider_thumb(page, key)
    thumb.focus()
    arm_decoded_watch(page)
    page.keyboard.press(key_name)
    latency = decoded_latency_ms(page)
    wait_idle(page)
    return latency


def slider_value(page: Page, key: str) -> float:
    """The slider's current value (its thumb is an ``input type=range``)."""
    return float(slider_thumb(page, key).input_value())


# ---------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation, of a non-empty list."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def chromium_version() -> str:
    """``chromium --version`` output, or "unknown"."""
    path = chromium_path()
    if path is None:
        return "not installed"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = [line for line in out.splitlines() if "Chromium" in line]
    return lines[-1].strip() if lines else out.strip() or "unknown"
