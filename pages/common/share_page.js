// The saved web page (pages/common/share_page.py): mounts the latent map from the page's own data and does
// here what the app's server does when a click, a dragged cross, arrow keys or a slider commit a point: that
// point becomes the chosen one (a test image's own code, or the plane point lifted from the chosen code as
// vae's Projection.from_2d does, or the sliders' code), kept inside the sliders' ranges as float32, and the
// map is updated with it. Not a module of its own: share_page.py appends it to the map's joined module
// (pages/common/latent_map.py component_js) and calls startSharedPage with the map's default export.

const DATA_ID = "latent-map-data"; // the <script type="application/json"> holding the map's data
const MAP_ID = "latent-map"; // the element the map fills

/** Mount the map (``mount``: latent_map.js's default export) and commit its points in the page. */
function startSharedPage(mount) {
  const first = JSON.parse(document.getElementById(DATA_ID).textContent);
  const parentElement = document.getElementById(MAP_ID);
  const codes = first.points.codes ? floatsOf(first.points.codes) : null;
  let data = first;
  const send = (event, value) => {
    const code = committedCode(data, event, value, codes, first.points.code_dim || 0);
    if (!code) return; // "need" never comes (everything is inline); the legend hides classes by itself
    data = chosen(data, code);
    mount({ parentElement, data, setTriggerValue: send });
  };
  mount({ parentElement, data, setTriggerValue: send });
  data = byName(first); // the map keeps the points and the decoder: later updates name them only
}

/** The same data with the point set and the decoder named by their hashes (the map keeps what they name). */
function byName(data) {
  const decoder = data.live.decoder;
  return { ...data, points: { token: data.points.token, count: data.points.count },
           live: { ...data.live, decoder: decoder && decoder.header ? { sha256: decoder.header.sha256 } : decoder } };
}

/** The code a "click" {x, y, index} or a "slider" {z} commits, inside the sliders' ranges; null for anything else. */
function committedCode(data, event, value, codes, codeDim) {
  const live = data.live, latentDim = live.point.length;
  let code = null;
  if (event === "slider" && value && Array.isArray(value.z) && value.z.length === latentDim) code = value.z.map(Number);
  else if (event === "click" && value) {
    const i = value.index;
    if (Number.isInteger(i) && codes && codeDim === latentDim && (i + 1) * codeDim <= codes.length) {
      code = Array.from(codes.subarray(i * codeDim, (i + 1) * codeDim));
    } else code = lift(live.lift, Number(value.x), Number(value.y));
  }
  if (!code || !code.every(Number.isFinite)) return null;
  return code.map((v, d) => Math.fround(Math.min(Math.max(v, live.ranges[d][0]), live.ranges[d][1])));
}

/** Plane point (x, y) as a full code: the lift's base moved within the plane (Projection.from_2d). */
function lift(payload, x, y) {
  const { mean, axes } = payload, anchor = payload.base || mean;
  const [anchorX, anchorY] = planePoint(payload, anchor);
  return anchor.map((a, d) => a + ((x - anchorX) * axes[0][d] + (y - anchorY) * axes[1][d]));
}

/** A code's place on the plane: (code - mean) . axes (Projection.to_2d). */
function planePoint(payload, code) {
  const { mean, axes } = payload;
  let x = 0, y = 0;
  for (let d = 0; d < mean.length; d++) {
    x += (code[d] - mean[d]) * axes[0][d];
    y += (code[d] - mean[d]) * axes[1][d];
  }
  return [x, y];
}

/** The data with ``code`` chosen: the cross there, the picture and sliders at it, hovering lifted from it. */
function chosen(data, code) {
  const lifted = { ...data.live.lift, base: code };
  return { ...data, marker: planePoint(lifted, code), live: { ...data.live, point: code, lift: lifted } };
}

function floatsOf(base64) {
  const text = atob(base64), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
