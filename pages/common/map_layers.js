// The research layers of the latent map (pages/common/research.py sends them; every field is optional):
//   density: {picture: PNG data URI, extent: [left, right, bottom, top]}: where the images' codes are and the holes,
//            a picture drawn under the dots like the decoded background;
//   prior: {centre: [x, y], radii: [...], masses: [...]}: dashed rings holding that share of the prior, over the dots;
//   holes: {size: R, x_range, y_range, bits}: the holes' R x R grid (one bit a cell, row by row from the top, high bit
//          first; cell centres run from the range's first value to its last), so a hovered spot is flagged "off the data";
//   ellipses: {count, major, minor, angle}: base64 float32, one per dot, each centred on its dot; drawn on the overlay;
//   picked_ellipse: {centre, major, minor, angle}: the clicked image's ellipse, always drawn when sent.
// Angles are radians from the plane's x axis, counter-clockwise (y up).

const ELLIPSE_ALPHA = 0.55; // the test images' ellipses, in their class colour
const PRIOR_COLOR = "#444";
const PRIOR_DASH = [6, 4]; // CSS pixels: the prior's rings are dashed, the ellipses solid

function bytesOf(base64) {
  const text = atob(base64 || "");
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** Read the layers of ``data`` into ``map.layers`` (the picture loads once per source, then redraws the base). */
export function updateLayers(map, data) {
  const old = map.layers || {};
  const layers = { image: null, source: null, holes: null, ellipses: null };
  const density = data.density || null;
  if (density && density.picture === old.source) Object.assign(layers, { image: old.image, source: old.source });
  else if (density) {
    layers.source = density.picture;
    const image = new Image();
    image.onload = () => {
      if (map.layers === layers) { layers.image = image; map.redrawBase(); }
    };
    image.src = density.picture;
  }
  if (data.holes) layers.holes = { ...data.holes, cells: bytesOf(data.holes.bits) };
  const spec = data.ellipses;
  if (spec) {
    const read = (field) => new Float32Array(bytesOf(spec[field]).buffer);
    layers.ellipses = { count: spec.count, major: read("major"), minor: read("minor"), angle: read("angle") };
  }
  map.layers = layers;
}

/** Whether plane point (x, y) lies in a hole of the grid the server sent; null when no grid was sent. */
export function offTheData(map, x, y) {
  const holes = map.layers && map.layers.holes;
  if (!holes || x == null || y == null) return null;
  const n = holes.size, [x0, x1] = holes.x_range, [y0, y1] = holes.y_range;
  const column = Math.round((x - x0) / (x1 - x0) * (n - 1)), row = Math.round((y1 - y) / (y1 - y0) * (n - 1));
  if (!(column >= 0 && column < n && row >= 0 && row < n)) return false;
  const bit = row * n + column;
  return Boolean((holes.cells[bit >> 3] >> (7 - (bit & 7))) & 1);
}

/** Under the dots (base layer): the density picture at its extent. */
export function drawUnderDots(map, context) {
  const data = map.data, layers = map.layers || {};
  if (!layers.image || !data.density) return;
  const [left, right, bottom, top] = data.density.extent;
  const [px0, py0] = map.toPixel(left, top), [px1, py1] = map.toPixel(right, bottom);
  context.imageSmoothingEnabled = false; // cells stay cells: a hole's edge is where the server found it
  context.drawImage(layers.image, px0, py0, px1 - px0, py1 - py0);
  context.imageSmoothingEnabled = true;
}

function drawPrior(map, context, prior) {
  const [cx, cy] = map.toPixel(prior.centre[0], prior.centre[1]);
  const [ox] = map.toPixel(prior.centre[0] + 1, prior.centre[1]), [, oy] = map.toPixel(prior.centre[0], prior.centre[1] + 1);
  const sx = ox - cx, sy = cy - oy; // pixels per plane unit across and up
  context.save();
  context.strokeStyle = PRIOR_COLOR;
  context.fillStyle = PRIOR_COLOR;
  context.lineWidth = 1.5;
  context.setLineDash(PRIOR_DASH);
  context.font = "11px sans-serif";
  context.textAlign = "center";
  context.textBaseline = "bottom";
  prior.radii.forEach((radius, k) => {
    context.beginPath();
    context.ellipse(cx, cy, radius * sx, radius * sy, 0, 0, 2 * Math.PI);
    context.stroke();
    const share = prior.masses ? `${Math.round(prior.masses[k] * 100)}%` : "";
    context.lineWidth = 3;
    context.strokeStyle = "white";
    context.setLineDash([]);
    context.strokeText(`prior ${share}`, cx, cy - radius * sy - 2); // a halo: readable over the dots
    context.fillText(`prior ${share}`, cx, cy - radius * sy - 2);
    context.strokeStyle = PRIOR_COLOR;
    context.lineWidth = 1.5;
    context.setLineDash(PRIOR_DASH);
  });
  context.restore();
}

/** On the overlay, over the dots: the prior's rings, the test images' ellipses (visible classes), the clicked one's. */
export function drawOverDots(map, context) {
  const data = map.data, points = map.points, spec = map.layers && map.layers.ellipses;
  if (data.prior) drawPrior(map, context, data.prior);
  if (spec && spec.count === points.count) {
    context.lineWidth = 1;
    context.globalAlpha = ELLIPSE_ALPHA;
    for (let label = 0; label < data.class_names.length; label++) {
      if (map.hidden.has(label)) continue;
      context.strokeStyle = data.colors[label % data.colors.length];
      context.beginPath();
      for (let i = 0; i < points.count; i++) {
        if (points.labels[i] === label) addEllipse(map, context, points.x[i], points.y[i], spec.major[i], spec.minor[i],
                                                   spec.angle[i]);
      }
      context.stroke();
    }
    context.globalAlpha = 1;
  }
  const picked = data.picked_ellipse;
  if (!picked) return;
  for (const [width, color] of [[4, "white"], [2, "black"]]) {
    context.lineWidth = width;
    context.strokeStyle = color;
    context.beginPath();
    addEllipse(map, context, picked.centre[0], picked.centre[1], picked.major, picked.minor, picked.angle);
    context.stroke();
  }
}

/** Add one plane ellipse to the current path: drawn in plane units, so the map's scale on each axis applies exactly. */
function addEllipse(map, context, x, y, major, minor, angle) {
  const [px, py] = map.toPixel(x, y), [qx] = map.toPixel(x + 1, y), [, qy] = map.toPixel(x, y + 1);
  context.save();
  context.translate(px, py);
  context.scale(qx - px, qy - py); // plane units to pixels; y grows downwards on screen
  context.rotate(angle);
  context.moveTo(major, 0);
  context.ellipse(0, 0, major, minor, 0, 0, 2 * Math.PI);
  context.restore();
}

/** What the tests read: which layers are shown. */
export function describeLayers(map) {
  const layers = map.layers || {}, data = map.data || {};
  return { density: Boolean(layers.image), prior: data.prior ? data.prior.radii.length : 0,
           holes: Boolean(layers.holes), ellipses: layers.ellipses ? layers.ellipses.count : 0,
           picked_ellipse: data.picked_ellipse || null };
}
