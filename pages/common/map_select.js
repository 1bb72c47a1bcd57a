// Selecting test images on the latent map: a toolbar ("Explore" / "Select", and "Clear selection") shown when
// data.selectable is set. In Select mode a drag draws a box and Shift+drag a lasso; on letting go, the visible dots
// inside go to Python in one "select" event {indices: [...]} (an empty list clears the selection). A press that does
// not move selects nothing, and no click commits a point in this mode; hovering still decodes. The server sends the
// selection back as data.selection (base64 uint32 indices), ringed on the overlay.

const MIN_DRAG_PIXELS = 3; // a press that moves less than this draws no box or lasso
const LASSO_STEP_PIXELS = 2; // a lasso's corners are at least this far apart
const BAND_COLOR = "#0072B2";
const RING_RADIUS = 5; // CSS pixels: the ring around a selected dot

/** Add the toolbar and the Select mode's pointer handling (ahead of the map's own, in the capture phase). */
export function attachSelection(map) {
  const tools = document.createElement("div");
  tools.className = "latent-map-tools";
  tools.setAttribute("role", "toolbar");
  tools.hidden = true;
  tools.innerHTML = `<button type="button" data-mode="explore">Explore</button>
    <button type="button" data-mode="select">Select</button>
    <span class="latent-map-tools-hint">Drag a box; hold Shift and drag for a lasso</span>
    <button type="button" data-clear>Clear selection</button>`;
  map.root.prepend(tools);
  map.select = { tools, mode: "explore", band: null, chosen: new Int32Array(0) };
  tools.querySelectorAll("[data-mode]").forEach((button) => {
    button.addEventListener("click", () => setMode(map, button.dataset.mode));
  });
  tools.querySelector("[data-clear]").addEventListener("click", () => { if (map.send) map.send("select", { indices: [] }); });
  const plot = map.plot, capture = { capture: true };
  plot.addEventListener("pointerdown", (event) => startBand(map, event), capture);
  plot.addEventListener("pointermove", (event) => moveBand(map, event), capture);
  plot.addEventListener("pointerup", (event) => endBand(map, event, true), capture);
  plot.addEventListener("pointercancel", (event) => endBand(map, event, false), capture);
  plot.addEventListener("click", (event) => { if (selecting(map)) event.stopImmediatePropagation(); }, capture);
  setMode(map, "explore");
}

function selecting(map) {
  return map.select.mode === "select" && map.data && map.data.selectable;
}

function setMode(map, mode) {
  map.select.mode = mode;
  for (const button of map.select.tools.querySelectorAll("[data-mode]")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
  }
  map.select.tools.classList.toggle("selecting", mode === "select");
  map.overlay.style.cursor = mode === "select" ? "cell" : "";
}

/** The toolbar (only where the page offers selection) and the selected dots the server sent. */
export function updateSelection(map, data) {
  const state = map.select;
  state.tools.hidden = !data.selectable;
  const text = atob((data.selection && data.selection.indices) || "");
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  state.chosen = new Int32Array(bytes.buffer);
  state.tools.querySelector("[data-clear]").hidden = state.chosen.length === 0;
}

function pointer(map, event) {
  const rect = map.overlay.getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function startBand(map, event) {
  if (!selecting(map) || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.stopImmediatePropagation(); // the map's own press (dragging the cross) does not happen in this mode
  event.preventDefault();
  map.select.band = { id: event.pointerId, lasso: event.shiftKey, corners: [pointer(map, event)], moved: false };
  map.overlay.setPointerCapture(event.pointerId);
}

function moveBand(map, event) {
  const band = map.select.band;
  if (!band || event.pointerId !== band.id) return;
  event.stopImmediatePropagation();
  const here = pointer(map, event), first = band.corners[0], last = band.corners[band.corners.length - 1];
  band.moved = band.moved || Math.hypot(here[0] - first[0], here[1] - first[1]) >= MIN_DRAG_PIXELS;
  if (!band.lasso) band.corners = [first, here];
  else if (Math.hypot(here[0] - last[0], here[1] - last[1]) >= LASSO_STEP_PIXELS) band.corners.push(here);
  map.redrawOverlay();
}

function endBand(map, event, done) {
  const band = map.select.band;
  if (!band || event.pointerId !== band.id) return;
  event.stopImmediatePropagation();
  map.select.band = null;
  if (map.overlay.hasPointerCapture(event.pointerId)) map.overlay.releasePointerCapture(event.pointerId);
  map.redrawOverlay();
  if (!done || !band.moved) return;
  const inside = band.lasso ? (px, py) => inPolygon(band.corners, px, py) : inBox(band.corners);
  const indices = [];
  for (let i = 0; i < map.points.count; i++) {
    if (map.hidden.has(map.points.labels[i])) continue;
    if (inside(map.pixels[2 * i], map.pixels[2 * i + 1])) indices.push(i);
  }
  if (map.send) map.send("select", { indices });
}

function inBox([[ax, ay], [bx, by]]) {
  const left = Math.min(ax, bx), right = Math.max(ax, bx), top = Math.min(ay, by), bottom = Math.max(ay, by);
  return (px, py) => px >= left && px <= right && py >= top && py <= bottom;
}

/** Even-odd rule: a ray to the right of (px, py) crosses the closed polygon's edges an odd number of times. */
export function inPolygon(corners, px, py) {
  let inside = false;
  for (let i = 0, j = corners.length - 1; i < corners.length; j = i++) {
    const [xi, yi] = corners[i], [xj, yj] = corners[j];
    if ((yi > py) !== (yj > py) && px < xj + (py - yj) / (yi - yj) * (xi - xj)) inside = !inside;
  }
  return inside;
}

/** On the overlay: rings round the selected dots, and the box or lasso being drawn. */
export function drawSelection(map, context) {
  const state = map.select;
  if (!state) return;
  if (state.chosen.length && map.pixels) context.drawImage(ringLayer(map), 0, 0, map.width, map.height);
  const band = state.band;
  if (!band || !band.moved) return;
  context.save();
  context.setLineDash([5, 3]);
  context.lineWidth = 1.5;
  context.strokeStyle = BAND_COLOR;
  context.fillStyle = "rgba(0, 114, 178, 0.08)";
  context.beginPath();
  if (band.lasso) band.corners.forEach(([x, y], k) => (k ? context.lineTo(x, y) : context.moveTo(x, y)));
  else {
    const [[ax, ay], [bx, by]] = band.corners;
    context.rect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay));
  }
  context.closePath();
  context.fill();
  context.stroke();
  context.restore();
}

/**
 * The rings round the selected dots on a canvas of their own, drawn again only when the selection or the dots'
 * pixels change (map.pixels is new after a resize, new data or a hidden class): the overlay is redrawn on every
 * frame of a dragged cross, and a selection of 500,000 dots would otherwise be 500,000 arcs a frame.
 */
function ringLayer(map) {
  const state = map.select, overlay = map.overlay;
  const kept = state.rings;
  if (kept && kept.chosen === state.chosen && kept.pixels === map.pixels && kept.canvas.width === overlay.width
      && kept.canvas.height === overlay.height) return kept.canvas;
  const canvas = document.createElement("canvas");
  canvas.width = overlay.width;
  canvas.height = overlay.height;
  const context = canvas.getContext("2d"), ratio = overlay.width / Math.max(1, map.width);
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.lineWidth = 1.5;
  context.strokeStyle = "black";
  context.beginPath();
  for (const i of state.chosen) {
    if (i >= map.points.count || map.hidden.has(map.points.labels[i])) continue;
    const px = map.pixels[2 * i], py = map.pixels[2 * i + 1];
    context.moveTo(px + RING_RADIUS, py);
    context.arc(px, py, RING_RADIUS, 0, 2 * Math.PI);
  }
  context.stroke();
  state.rings = { chosen: state.chosen, pixels: map.pixels, canvas };
  return canvas;
}

/** What the tests read: the mode and the selected dots. */
export function describeSelection(map) {
  const state = map.select;
  return { mode: state.mode, toolbar: !state.tools.hidden, chosen: Array.from(state.chosen),
           drawing: Boolean(state.band) };
}
