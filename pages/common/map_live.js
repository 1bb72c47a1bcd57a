// The live part of the latent map: the model's decoder runs in the page (pages/decoder.js), so the picture
// beside the map follows the mouse, a dragged cross, arrow keys and the latent sliders at display rate, with
// no server rerun (Interpolate's scrubber, map_scrubber.js, uses the same decoders). The server hears only
// what is committed.
// Big things travel once: a point set by its token, a decoder by its sha256 (pages/common/live.py sends
// each once per session); both are kept here, at module level, so they outlive a remount of the map in
// this tab. Data that names one the tab lacks (e.g. after a reload) asks for it again: event "need".
// On the t-SNE plane (data.live.nearest = k) a spot decodes the mean code of the k dots nearest it there, as the
// server's click does (vae.analysis.diagnostics.tsne_click_code); a hovered spot in a hole (map_layers.js) says so.
import { createDecoder, createLift, weightsFromBase64 } from "../decoder.js";
import { offTheData } from "./map_layers.js";

const CACHE_LIMIT = 8; // point sets and decoders kept per tab (one per model and plane shown)
const TIMING_LIMIT = 2000; // the newest input-to-pixels latencies kept for the benchmark
const EMPTY_POINTS = { x: new Float32Array(0), y: new Float32Array(0), labels: new Uint16Array(0), codes: null,
                       count: 0 };
const POINT_SETS = new Map(); // token -> decoded points
const DECODERS = new Map(); // sha256 -> { decoder } or { error }
const WAITING = new Map(); // sha256 -> callbacks to run once that decoder arrives (whichever element brings it)
export const COMMIT_PAUSE_MS = 350; // keys: the server hears the point this long after the last key is let go
const CAPTIONS = { point: "The chosen point", hover: "Under the mouse", drag: "Moving the point",
                   keys: "Moving the point", slider: "Moving the point" };

function remember(cache, key, value) {
  cache.delete(key);
  cache.set(key, value);
  while (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value);
  return value;
}

function bytes(base64) {
  const text = atob(base64 || "");
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function floats(base64) {
  return new Float32Array(bytes(base64).buffer);
}

function decodePoints(spec) {
  const x = floats(spec.x), y = floats(spec.y);
  const labels = spec.labels ? new Uint16Array(bytes(spec.labels).buffer) : new Uint16Array(x.length);
  const codes = spec.codes ? floats(spec.codes) : null;
  return { x, y, labels, codes, codeDim: spec.code_dim || 0, count: x.length };
}

/** The map's points: sent inline (data.points with arrays, or the older top-level x/y/labels), or by token. */
export function resolvePoints(data, ask) {
  const spec = data.points || (data.x !== undefined ? data : null);
  if (!spec) return EMPTY_POINTS;
  if (spec.x !== undefined) {
    const points = decodePoints(spec);
    return spec.token ? remember(POINT_SETS, spec.token, points) : points;
  }
  if (POINT_SETS.has(spec.token)) return POINT_SETS.get(spec.token);
  ask({ points: spec.token });
  return EMPTY_POINTS;
}

/** A decoder from WebDecoder.payload() ({header, weights}) or its hash alone ({sha256}); null while it is missing. */
export function resolveDecoder(spec, ask) {
  if (!spec) return null;
  const sha = spec.header ? spec.header.sha256 : spec.sha256;
  if (spec.header && spec.weights !== undefined && !DECODERS.has(sha)) {
    let entry;
    try {
      entry = { decoder: createDecoder(spec.header, weightsFromBase64(spec.weights)) };
    } catch (error) {
      entry = { error: String(error.message || error) };
    }
    remember(DECODERS, sha, entry);
    const waiting = WAITING.get(sha) || [];
    WAITING.delete(sha);
    waiting.forEach((callback) => callback());
  }
  if (DECODERS.has(sha)) return DECODERS.get(sha);
  ask({ decoder: sha });
  return null;
}

/** Run ``callback`` once the decoder ``sha`` arrives with some element's data (at once if it is here already). */
export function whenDecoder(sha, callback) {
  if (DECODERS.has(sha)) { callback(); return; }
  WAITING.set(sha, [...(WAITING.get(sha) || []), callback]);
}

/** A picture canvas sized for one decoded image (CSS scales it up, pixels stay square). */
export function preparePicture(canvas, decoder, shownPixels) {
  if (canvas.width !== decoder.width || canvas.height !== decoder.height) {
    canvas.width = decoder.width;
    canvas.height = decoder.height;
  }
  const scale = Math.max(1, Math.floor(shownPixels / Math.max(decoder.width, decoder.height)));
  canvas.style.width = `${scale * decoder.width}px`;
  canvas.style.height = `${scale * decoder.height}px`;
  return canvas.getContext("2d").createImageData(decoder.width, decoder.height);
}

// ---------------------------------------------------------------- the map's live state

/**
 * Set up the map's live parts from data.live: ``map.plane`` (how codes project onto the plane) and
 * ``map.point`` (the chosen code) whenever they are sent, and ``map.live`` (the decoder) once it runs here.
 * Without a decoder the sliders and the cross still move; the server decodes what they commit.
 */
export function updateLive(map, data) {
  const spec = data.live;
  map.plane = spec && spec.lift && !spec.nearest ? planeOf(spec.lift) : null; // t-SNE: no formula from code to spot
  map.point = spec && spec.point ? Float32Array.from(spec.point)
    : spec && spec.lift ? Float32Array.from(createLift(spec.lift).lift(0, 0)) : null;
  const entry = spec ? resolveDecoder(spec.decoder, map.ask) : null;
  if (!spec || !entry || entry.error || !spec.lift) {
    map.live = null;
    map.picture.hidden = true;
    map.note.textContent = entry && entry.error ? "The picture is decoded on the server: click a spot." : "";
    return false;
  }
  const decoder = entry.decoder;
  map.live = {
    decoder, lift: createLift(spec.lift), latentDim: decoder.latentDim, ranges: spec.ranges || null, nearest: spec.nearest || 0,
    caption: spec.caption || CAPTIONS.point, work: new Float32Array(decoder.latentDim),
    image: preparePicture(map.pictureCanvas, decoder, map.pictureSize),
  };
  map.picture.hidden = false;
  map.note.textContent = "";
  return true;
}

/** How codes project onto the plane (from a lift payload): {latentDim, mean, axes}, float64. */
export function planeOf(lift) {
  return { latentDim: lift.mean.length, mean: Float64Array.from(lift.mean),
           axes: lift.axes.map((row) => Float64Array.from(row)) };
}

/** The full code of what ``want`` names: its own code, a test image's code, or a lifted plane point; clipped. */
function codeFor(map, want) {
  const live = map.live, out = live.work, points = map.points, i = want.index;
  if (want.code) out.set(want.code.subarray ? want.code.subarray(0, live.latentDim) : want.code);
  else if (i != null && points.codes && points.codeDim === live.latentDim) {
    out.set(points.codes.subarray(i * live.latentDim, (i + 1) * live.latentDim));
  } else if (i != null && live.latentDim <= 2) { // up to 2-D a dot's position is its code
    out[0] = points.x[i];
    if (live.latentDim > 1) out[1] = points.y[i];
  } else if (live.nearest && points.codes && points.codeDim === live.latentDim) nearestMean(map, want.x, want.y, out);
  else out.set(live.lift.lift(want.x, want.y));
  if (live.ranges) { // as the server keeps a chosen point inside the sliders' ranges
    for (let d = 0; d < out.length; d++) out[d] = Math.min(Math.max(out[d], live.ranges[d][0]), live.ranges[d][1]);
  }
  return out;
}

/** The mean code of the ``live.nearest`` dots nearest (x, y) on the plane (ties to the lower index), into ``out``. */
function nearestMean(map, x, y, out) {
  const points = map.points, k = Math.min(map.live.nearest, points.count), dim = map.live.latentDim;
  const best = []; // [squared distance, index], nearest first, at most k
  for (let i = 0; i < points.count; i++) {
    const d = (points.x[i] - x) ** 2 + (points.y[i] - y) ** 2;
    if (best.length === k && d >= best[k - 1][0]) continue;
    let at = best.length;
    while (at > 0 && best[at - 1][0] > d) at--;
    best.splice(at, 0, [d, i]);
    if (best.length > k) best.pop();
  }
  out.fill(0);
  for (const [, i] of best) for (let c = 0; c < dim; c++) out[c] += points.codes[i * dim + c] / best.length;
}

/** The plane position of a full code: (code - mean) . axes, as Projection.to_2d (``plane`` from planeOf). */
export function project(plane, code) {
  let x = 0, y = 0;
  for (let d = 0; d < plane.latentDim; d++) {
    x += (code[d] - plane.mean[d]) * plane.axes[0][d];
    y += (code[d] - plane.mean[d]) * plane.axes[1][d];
  }
  return [x, y];
}

/**
 * At most one drawing per display frame: the first input after a frame draws at once (its pixels are in the
 * next frame the screen shows), the later ones of the same frame are folded into one drawing of the newest
 * at the next animation frame. ``draw(input)`` gets the oldest undrawn input: {stamp, handled} (its event's
 * timestamp, and when the page's handler saw it) or null, and whether it runs inside an animation frame.
 */
export function frameThrottle(draw) {
  let frame = 0, waiting = false, input = null;
  const run = (inFrame) => {
    waiting = false;
    const oldest = input;
    input = null;
    draw(oldest, inFrame);
    frame = requestAnimationFrame(() => { frame = 0; if (waiting) run(true); });
  };
  return (stamp) => {
    if (input === null && stamp != null) input = { stamp, handled: performance.now() };
    waiting = true;
    if (!frame) run(false);
  };
}

/** Ask for a live picture of ``want`` (the newest wins); ``stamp`` is the input event's timestamp. */
export function requestLive(map, want, stamp) {
  map.want = want;
  if (!map.throttle) map.throttle = frameThrottle((input, inFrame) => renderLive(map, input, inFrame));
  map.throttle(stamp);
}

function renderLive(map, input, inFrame) {
  const want = map.want;
  map.want = null;
  if (!want || !map.data) return;
  if (want.cross !== undefined) {
    map.pending = want.cross;
    map.redrawOverlay();
  }
  if (map.live) {
    const code = codeFor(map, want);
    map.live.decoder.decodeInto(code, map.live.image);
    map.pictureCanvas.getContext("2d").putImageData(map.live.image, 0, 0);
    map.shown = { source: want.source, code: Float32Array.from(code), x: want.x ?? null, y: want.y ?? null,
                  index: want.index ?? null };
    const hole = !want.caption && want.source !== "point" && offTheData(map, want.x, want.y) ? " · off the data" : "";
    map.caption.textContent = (want.caption || (want.source === "point" ? map.live.caption : CAPTIONS[want.source] || "")) + hole;
  }
  if (map.onLive) map.onLive(want, map.live ? map.shown.code : null); // linked maps (map_link.js), if any
  noteLatency(map.timings, want.source, input, inFrame);
}

/**
 * Record [source, input -> pixels, handler -> pixels, input -> frame] in ms: from the input event's timestamp
 * (the browser holds mouse moves until its next frame: up to 16.7 ms at 60 Hz) and from the moment the page's
 * handler saw it, to the decoded pixels painted on the canvas; and from the event to the start of the display
 * frame that shows them (the next animation frame, or this one when drawn inside one).
 */
export function noteLatency(timings, source, input, inFrame) {
  timings.frames += 1;
  if (!input) return;
  const now = performance.now();
  const entry = [source, now - input.stamp, now - input.handled, inFrame ? now - input.stamp : null];
  if (!inFrame) requestAnimationFrame(() => { entry[3] = performance.now() - input.stamp; });
  timings.latencies.push(entry);
  if (timings.latencies.length > TIMING_LIMIT) timings.latencies.shift();
}

/** Show the committed point (after a hover ends, or when the server's answer arrives). */
export function showCommitted(map) {
  if (map.live && map.point) requestLive(map, { source: "point", code: map.point }, null);
}

/** What the tests read: the live picture, its code and where it came from. */
export function describeLive(map) {
  const shown = map.shown, live = map.live;
  const rect = map.pictureCanvas.getBoundingClientRect();
  const out = { ready: Boolean(live), note: map.note.textContent, frames: map.timings.frames,
                hovering: map.hovering, dragging: Boolean(map.drag), pending: map.pending,
                picture: { left: rect.left, top: rect.top, width: rect.width, height: rect.height },
                sliders: Array.from(map.slidersRoot.querySelectorAll("input")).map((input) => Number(input.value)) };
  if (live && shown) {
    Object.assign(out, { source: shown.source, code: Array.from(shown.code), x: shown.x, y: shown.y, index: shown.index,
                         width: live.decoder.width, height: live.decoder.height,
                         pixels: Array.from(live.decoder.decode(shown.code)) });
  }
  return out;
}

// ---------------------------------------------------------------- the latent sliders

/** Build (when their names or ranges change) and fill the latent sliders from data.live.sliders. */
export function updateSliders(map, data) {
  const spec = data.live && data.live.sliders, root = map.slidersRoot;
  const signature = JSON.stringify(spec ? [spec, data.live.ranges] : null);
  if (root.dataset.signature !== signature) {
    root.dataset.signature = signature;
    root.replaceChildren();
    if (spec) buildSliders(map, root, spec, data.live.ranges);
  }
  const point = data.live && data.live.point;
  if (!point) return;
  for (const input of root.querySelectorAll("input")) {
    const dim = Number(input.dataset.dim);
    if (input.dataset.active) continue; // the one the user is moving keeps the user's value
    input.value = String(point[dim]);
    showValue(input);
  }
}

function buildSliders(map, root, spec, ranges) {
  let parent = root;
  if (spec.title) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = spec.title;
    details.appendChild(summary);
    root.appendChild(details);
    parent = details;
  }
  const grid = document.createElement("div");
  grid.className = "latent-map-slider-grid";
  parent.appendChild(grid);
  spec.labels.forEach((label, dim) => {
    const item = document.createElement("label");
    item.className = "latent-map-slider";
    const name = document.createElement("span");
    name.textContent = label;
    const value = document.createElement("output");
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: String(ranges[dim][0]), max: String(ranges[dim][1]), step: "any" });
    input.dataset.dim = String(dim);
    input.setAttribute("aria-label", label);
    item.append(name, value, input);
    grid.appendChild(item);
    wireSlider(map, input, dim);
  });
}

function showValue(input) {
  input.previousElementSibling.textContent = Number(input.value).toFixed(2);
}

function wireSlider(map, input, dim) {
  let byKey = false;
  input.addEventListener("pointerdown", () => { byKey = false; input.dataset.active = "1"; });
  input.addEventListener("keydown", () => { byKey = true; input.dataset.active = "1"; });
  input.addEventListener("input", (event) => {
    showValue(input);
    if (!map.point) return;
    if (!map.draft) map.draft = Float32Array.from(map.point);
    map.draft[dim] = Number(input.value);
    clearTimeout(map.sliderTimer);
    const cross = map.plane ? project(map.plane, map.draft) : undefined;
    requestLive(map, { source: "slider", code: map.draft, cross }, event.timeStamp);
  });
  input.addEventListener("change", () => {
    clearTimeout(map.sliderTimer);
    const commit = () => {
      delete input.dataset.active;
      const code = map.draft || (map.point ? Float32Array.from(map.point) : null);
      if (!code) return;
      code[dim] = Number(input.value); // also when no decoder runs here: the server decodes
      map.draft = null;
      if (map.send) map.send("slider", { z: Array.from(code) });
    };
    if (byKey) map.sliderTimer = setTimeout(commit, COMMIT_PAUSE_MS); // one rerun for a run of key presses
    else commit();
  });
}
