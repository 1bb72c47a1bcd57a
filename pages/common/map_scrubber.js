// Interpolate's scrubber, under the strip: a slider from A to B whose picture is decoded in the page at
// display rate (map_live.js keeps the decoders), and whose spot is shown on the path of the map beside it:
// the map joins the group named by its key, the scrubber draws there. Mounted by latent_map.js's default
// export when data.mode is "scrubber"; it sends only "need" (a decoder this tab lacks).
import { frameThrottle, noteLatency, planeOf, preparePicture, project, resolveDecoder,
         whenDecoder } from "./map_live.js";

const GROUPS = new Map(); // a map's key -> { map, scrub }: how a scrubber reaches its map
const PICTURE_PIXELS = 112; // the scrubber's picture, when the data names no size: one step of the strip

/** Join the map to its scrubber's group (the map's key); returns the scrubber's last spot, if any. */
export function joinGroup(map, group) {
  if (!group) return null;
  const entry = GROUPS.get(group) || { map: null, scrub: null };
  entry.map = map;
  GROUPS.set(group, entry);
  return entry.scrub;
}

export function leaveGroup(map, group) {
  const entry = group && GROUPS.get(group);
  if (entry && entry.map === map) entry.map = null;
}

/** The scrubber under Interpolate's strip: a slider from A to B, decoded live, its spot shown on the map. */
export function mountScrubber(component) {
  const { parentElement, data, setTriggerValue } = component;
  let scrubber = parentElement.__latentScrubber;
  if (!scrubber) {
    scrubber = createScrubber(parentElement);
    parentElement.__latentScrubber = scrubber;
  }
  scrubber.send = setTriggerValue;
  scrubber.update(data);
  return () => scrubber.destroy();
}

function createScrubber(parent) {
  const root = document.createElement("div");
  root.className = "latent-scrubber";
  root.innerHTML = `<label class="latent-scrubber-track"><span>A</span>
      <input type="range" min="0" max="1" step="any" value="0"><span>B</span></label>
    <figure class="latent-map-picture"><canvas></canvas><figcaption></figcaption></figure>`;
  parent.appendChild(root);
  const input = root.querySelector("input"), canvas = root.querySelector("canvas");
  const caption = root.querySelector("figcaption");
  const scrubber = { root, data: null, send: null, decoder: null, image: null, code: null, t: 0,
                     timings: { frames: 0, latencies: [] } };
  let asked = new Set(); // one ask per thing per update
  const ask = (what) => {
    const id = JSON.stringify(what);
    if (!asked.has(id) && scrubber.send) { asked.add(id); scrubber.send("need", what); }
  };
  scrubber.update = (data) => {
    scrubber.data = data;
    asked = new Set();
    input.setAttribute("aria-label", data.label || "From A to B");
    let entry = resolveDecoder(data.decoder, () => {}); // the map beside it may bring the weights in this render
    if (!entry && data.decoder) {
      const sha = data.decoder.header ? data.decoder.header.sha256 : data.decoder.sha256;
      whenDecoder(sha, () => { // the weights may come with the map beside it, in this render or a later run
        if (!scrubber.gone && scrubber.data === data) scrubber.update(data); // a newer update waits for itself
      });
      requestAnimationFrame(() => { if (scrubber.data === data) resolveDecoder(data.decoder, ask); }); // else ask
    }
    scrubber.decoder = entry && entry.decoder ? entry.decoder : null;
    canvas.parentElement.hidden = !scrubber.decoder;
    const size = data.picture_pixels || PICTURE_PIXELS;
    if (scrubber.decoder) scrubber.image = preparePicture(canvas, scrubber.decoder, size);
    scrub(scrubber, Number(input.value), null);
  };
  scrubber.destroy = () => { scrubber.gone = true; root.remove(); delete parent.__latentScrubber; };
  scrubber.describe = () => ({
    t: scrubber.t, code: scrubber.code && Array.from(scrubber.code), frames: scrubber.timings.frames,
    ready: Boolean(scrubber.decoder),
    pixels: scrubber.decoder && scrubber.code ? Array.from(scrubber.decoder.decode(scrubber.code)) : null,
  });
  const throttle = frameThrottle((input, inFrame) => scrub(scrubber, scrubber.t, input, inFrame));
  input.addEventListener("input", (event) => {
    scrubber.t = Number(input.value);
    throttle(event.timeStamp);
  });
  scrubber.caption = caption;
  scrubber.canvas = canvas;
  return scrubber;
}

function scrub(scrubber, t, input, inFrame = false) {
  const data = scrubber.data;
  scrubber.t = t;
  const a = Float64Array.from(data.a), b = Float64Array.from(data.b);
  scrubber.code = Float32Array.from(pathPoint(a, b, t, data.method));
  scrubber.caption.textContent = `${Math.round(t * 100)}% of the way from A to B`;
  if (scrubber.decoder) {
    scrubber.decoder.decodeInto(scrubber.code, scrubber.image);
    scrubber.canvas.getContext("2d").putImageData(scrubber.image, 0, 0);
  }
  const spot = project(planeOf(data.projection), scrubber.code);
  const entry = GROUPS.get(data.group) || { map: null, scrub: null };
  entry.scrub = spot;
  GROUPS.set(data.group, entry);
  if (entry.map) { entry.map.scrub = spot; entry.map.redrawOverlay(); }
  noteLatency(scrubber.timings, "scrub", input, inFrame);
}

/** The point a share t of the way along the path, as vae/projection.py's lerp and slerp (float64). */
export function pathPoint(a, b, t, method) {
  const out = new Float64Array(a.length);
  for (let d = 0; d < a.length; d++) out[d] = (1 - t) * a[d] + t * b[d];
  if (method !== "spherical") return out;
  const normA = Math.hypot(...a), normB = Math.hypot(...b);
  if (normA < 1e-12 || normB < 1e-12) return out;
  const unitA = a.map((v) => v / normA), unitB = b.map((v) => v / normB);
  const angle = Math.acos(Math.min(1, Math.max(-1, unitA.reduce((s, v, d) => s + v * unitB[d], 0))));
  let direction;
  if (angle < 1e-6) direction = unitA.map((v, d) => (1 - t) * v + t * unitB[d]);
  else if (Math.PI - angle < 1e-6) {
    if (a.length === 1) return out; // +x to -x in 1-D: only through zero
    const other = perpendicular(unitA);
    direction = unitA.map((v, d) => Math.cos(t * Math.PI) * v + Math.sin(t * Math.PI) * other[d]);
  } else {
    direction = unitA.map((v, d) => (Math.sin((1 - t) * angle) * v + Math.sin(t * angle) * unitB[d]) / Math.sin(angle));
  }
  const length = Math.max(Math.hypot(...direction), 1e-12), norm = (1 - t) * normA + t * normB;
  for (let d = 0; d < a.length; d++) out[d] = direction[d] / length * norm;
  if (t === 0) out.set(a); // exact ends, as slerp keeps them
  if (t === 1) out.set(b);
  return out;
}

function perpendicular(unit) {
  let smallest = 0;
  for (let d = 1; d < unit.length; d++) if (Math.abs(unit[d]) < Math.abs(unit[smallest])) smallest = d;
  const dot = unit[smallest];
  const other = unit.map((v, d) => (d === smallest ? 1 : 0) - dot * v);
  const length = Math.hypot(...other);
  return other.map((v) => v / length);
}
