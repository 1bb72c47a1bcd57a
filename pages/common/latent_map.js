// The latent map: test images as coloured dots on a <canvas>, a cross at the chosen point, an optional picture of
// decoded images behind, a legend that hides classes, and (pages/common/map_live.js) the model's decoder running in
// the page: the picture beside the map follows the mouse, a dragged cross, arrow keys and the latent sliders, with no
// server rerun. With data.mode "scrubber" it mounts Interpolate's scrubber instead (map_scrubber.js). Drawing in
// map_draw.js, the dot under the mouse in map_index.js. Streamlit calls the default export on the first draw and again
// whenever the data changes, with the same parentElement; the map is built once and kept on that element. Outside
// Streamlit, call it with {parentElement, data, setTriggerValue} (setTriggerValue may be null). Events sent to Python:
// "click" {x, y, index} (index: the test image under the mouse, or null; also when a dragged cross or arrow keys let
// go), "legend" (a class number), "slider" {z: the full code}, "need" {points: token} or {decoder: sha256}, "select".
// With data.view_only (the Train page's map while it trains) it is only looked at: no cross, no click, drag or keys.
import { drawBase, drawOverlay, shapePath } from "./map_draw.js";
import { COMMIT_PAUSE_MS, describeLive, requestLive, resolvePoints, showCommitted, updateLive,
         updateSliders } from "./map_live.js";
import { joinGroup, leaveGroup, mountScrubber } from "./map_scrubber.js";
import { describeLayers, updateLayers } from "./map_layers.js";
import { attachSelection, describeSelection, updateSelection } from "./map_select.js";
import { linkMap } from "./map_link.js";
import { HIT_PIXELS, indexPixels, nearestDot } from "./map_index.js";

const MARGIN = { left: 58, right: 12, top: 12, bottom: 46 };
const GRAB_PIXELS = 12; // a mouse press this close to the cross drags it
const MOVE_PIXELS = 3; // a press that moves less than this is a click (or a tap), not a drag
const KEY_STEP = 0.01; // an arrow key moves the point this share of the plane (Shift: ten times as far)
const NARROW_PIXELS = 480; // below this width the picture and the legend go under the plot (phones)
const PICTURE_PIXELS = 140; // most CSS pixels of the live picture's side (whole-pixel scaling may take fewer)
const MIN_PLOT_PIXELS = 160; // the plot's least height, however narrow the page
const LIVE_LABEL = "Latent space map: move the mouse to see what the model draws there, click to choose a point, " +
  "drag the cross or use the arrow keys to move it";
const VIEW_LABEL = "Map of the test images' codes: move the mouse over a dot to see which image it is";

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  if (data && data.mode === "scrubber") return mountScrubber(component);
  let map = parentElement.__latentMap;
  if (!map) {
    map = createMap(parentElement);
    parentElement.__latentMap = map;
  }
  map.send = setTriggerValue || null;
  map.update(data);
  return () => map.destroy();
}

function createMap(parent) {
  const root = document.createElement("div");
  root.className = "latent-map";
  root.innerHTML = `
    <div class="latent-map-plot"><canvas class="latent-map-base"></canvas>
      <canvas class="latent-map-overlay" tabindex="0"></canvas>
      <div class="latent-map-tip" hidden></div></div>
    <div class="latent-map-side">
      <figure class="latent-map-picture" hidden><canvas></canvas><figcaption></figcaption></figure>
      <div class="latent-map-note"></div>
      <div class="latent-map-legend" role="group" aria-label="Classes"></div></div>
    <div class="latent-map-sliders"></div>`;
  parent.appendChild(root);
  const $ = (selector) => root.querySelector(selector);
  const map = { root, plot: $(".latent-map-plot"), canvas: $(".latent-map-base"), overlay: $(".latent-map-overlay"),
                tip: $(".latent-map-tip"), legend: $(".latent-map-legend"), picture: $(".latent-map-picture"),
                pictureCanvas: $(".latent-map-picture canvas"), caption: $("figcaption"), note: $(".latent-map-note"),
                slidersRoot: $(".latent-map-sliders"), pictureSize: PICTURE_PIXELS, data: null, points: null,
                pixels: null, grid: null, image: null, send: null, width: 0, height: 0, hidden: new Set(),
                localHidden: null, pending: null, scrub: null, live: null, plane: null, point: null, shown: null,
                basePoints: null, want: null, throttle: null, hovering: false, drag: null, draft: null, keyPoint: null, keyTimer: 0,
                sliderTimer: 0, asked: new Set(), timings: { frames: 0, latencies: [] } };
  map.ask = (what) => {
    const id = JSON.stringify(what);
    if (!map.asked.has(id) && map.send) { map.asked.add(id); map.send("need", what); }
  };
  map.toPixel = (x, y) => toPixel(map, x, y);
  map.update = (data) => update(map, data);
  map.redrawOverlay = () => { if (map.data && map.width) drawOverlay(map, area(map)); };
  map.redrawBase = () => { map.width = 0; layout(map); };
  map.describe = (options) => describe(map, options); // what the browser tests read
  map.destroy = () => {
    resize.disconnect();
    leaveGroup(map, map.data && map.data.group); linkMap(map, null);
    root.remove();
    delete parent.__latentMap;
  };
  const resize = new ResizeObserver(() => layout(map));
  resize.observe(root);
  listen(map);
  attachSelection(map);
  return map;
}

function update(map, data) {
  const previous = map.data;
  map.data = data;
  map.overlay.setAttribute("aria-label", data.view_only ? VIEW_LABEL : LIVE_LABEL);
  map.asked = new Set(); // one ask per missing thing per update: a thing evicted later may be asked for again
  map.points = resolvePoints(data, map.ask);
  if (!previous || previous.background !== data.background) loadBackground(map, data.background);
  updateLayers(map, data);
  updateSelection(map, data);
  if (!map.drag && map.keyPoint === null) map.pending = null; // the server's cross replaces the one drawn at a commit
  map.draft = null;
  map.scrub = joinGroup(map, data.group);
  map.pictureSize = data.picture_pixels || PICTURE_PIXELS; // larger in the presenter's tour
  linkMap(map, data.linked); // optional: maps linked across the page (map_link.js)
  updateLive(map, data);
  updateSliders(map, data);
  drawLegend(map);
  if (baseChanged(map, previous, data)) {
    map.basePoints = map.points;
    map.width = 0; // draw the dots again, whatever the size
    layout(map);
  } else map.redrawOverlay(); // a click's answer moves the cross only: 70,000 dots stay as drawn
  if (!map.hovering && !map.drag) showCommitted(map);
}

/** Whether the dots' layer must be drawn again: other points, classes, ranges, titles or background. */
function baseChanged(map, previous, data) {
  if (!previous || map.points !== map.basePoints || previous.background !== data.background) return true;
  const keys = ["x_range", "y_range", "axis_titles", "class_names", "colors", "symbols", "hidden", "height", "density"];
  return keys.some((key) => JSON.stringify(previous[key]) !== JSON.stringify(data[key]));
}

function loadBackground(map, source) {
  map.image = null;
  if (!source) return;
  const image = new Image();
  image.onload = () => {
    if (map.data && map.data.background === source) { map.image = image; map.width = 0; layout(map); }
  };
  image.src = source;
}

/** Narrow pages put the picture and legend under the plot; the plane is never taller than it is wide. */
function layout(map) {
  if (!map.data) return;
  map.root.classList.toggle("narrow", map.root.clientWidth < NARROW_PIXELS);
  const plotWidth = map.plot.clientWidth;
  const square = plotWidth - MARGIN.left - MARGIN.right + MARGIN.top + MARGIN.bottom;
  map.plot.style.height = `${Math.max(MIN_PLOT_PIXELS, Math.min(map.data.height, square))}px`;
  if (map.canvas.clientWidth === map.width && map.canvas.clientHeight === map.height) return;
  map.width = map.canvas.clientWidth;
  map.height = map.canvas.clientHeight;
  indexPixels(map, area(map));
  drawBase(map, area(map));
  drawOverlay(map, area(map));
  map.root.dataset.drawn = String(Number(map.root.dataset.drawn || 0) + 1);
}

// ------------------------------------------------------------------ geometry

function area(map) {
  return { left: MARGIN.left, top: MARGIN.top, width: Math.max(1, map.width - MARGIN.left - MARGIN.right),
           height: Math.max(1, map.height - MARGIN.top - MARGIN.bottom) };
}

function toPixel(map, x, y) {
  const box = area(map), [x0, x1] = map.data.x_range, [y0, y1] = map.data.y_range;
  return [box.left + (x - x0) / (x1 - x0) * box.width, box.top + (y1 - y) / (y1 - y0) * box.height];
}

function toPlane(map, px, py) {
  const box = area(map), [x0, x1] = map.data.x_range, [y0, y1] = map.data.y_range;
  return [x0 + (px - box.left) / box.width * (x1 - x0), y1 - (py - box.top) / box.height * (y1 - y0)];
}

function visible(map, i) {
  return !map.hidden.has(map.points.labels[i]);
}

function mouse(map, event) {
  const rect = map.canvas.getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function inside(map, px, py) {
  const box = area(map);
  return px >= box.left && px <= box.left + box.width && py >= box.top && py <= box.top + box.height;
}

/** The test image under (px, py), and the plane point: that image's dot, or the exact spot. */
function spotAt(map, px, py, dots = true) {
  const index = dots ? nearestDot(map, px, py, HIT_PIXELS) : null;
  const [x, y] = index === null ? toPlane(map, px, py) : [map.points.x[index], map.points.y[index]];
  return { x, y, index };
}

// ------------------------------------------------------------------ events

function listen(map) {
  const target = map.overlay;
  target.addEventListener("click", (event) => onClick(map, event));
  target.addEventListener("pointerdown", (event) => onPress(map, event));
  target.addEventListener("pointermove", (event) => onMove(map, event));
  target.addEventListener("pointerup", (event) => onRelease(map, event));
  target.addEventListener("pointercancel", (event) => onRelease(map, event));
  target.addEventListener("pointerleave", () => endHover(map));
  target.addEventListener("keydown", (event) => onKey(map, event));
  target.addEventListener("keyup", (event) => onKeyUp(map, event));
}

function commit(map, spot) {
  if (map.data && map.data.view_only) return; // a map to look at (the Train page's): a click chooses nothing
  map.pending = [spot.x, spot.y]; // show the cross at once; the server's answer redraws it
  map.redrawOverlay();
  if (map.send) map.send("click", { x: spot.x, y: spot.y, index: spot.index });
}

function onClick(map, event) {
  if (map.suppressClick) return;
  const [px, py] = mouse(map, event);
  if (!map.data || !inside(map, px, py)) return;
  commit(map, spotAt(map, px, py));
}

function onMove(map, event) {
  if (!map.data) return;
  const [px, py] = mouse(map, event);
  if (map.drag && event.pointerId === map.drag.id) { dragTo(map, event, px, py); return; }
  if (event.pointerType === "touch") return; // no hover without a mouse: a finger drags
  if (!inside(map, px, py)) { endHover(map); return; }
  const spot = spotAt(map, px, py);
  showTip(map, px, py, spot);
  map.hovering = true;
  requestLive(map, { source: "hover", ...spot }, event.timeStamp);
}

function endHover(map) {
  map.tip.hidden = true;
  if (!map.hovering) return;
  map.hovering = false;
  if (!map.drag) showCommitted(map);
}

/** A mouse press on the cross, or any touch, starts a drag that decodes live; letting go commits. */
function onPress(map, event) {
  if (!map.data || map.data.view_only || (event.pointerType === "mouse" && event.button !== 0)) return;
  const [px, py] = mouse(map, event);
  if (!inside(map, px, py)) return;
  const touch = event.pointerType !== "mouse";
  const cross = map.pending || map.data.marker;
  const near = cross && Math.hypot(...toPixel(map, cross[0], cross[1]).map((v, i) => v - [px, py][i])) <= GRAB_PIXELS;
  if (!touch && !near) return;
  map.drag = { id: event.pointerId, start: [px, py], moved: false, touch, spot: null };
  map.overlay.setPointerCapture(event.pointerId);
  if (touch) dragTo(map, event, px, py); // the picture under the finger at once
}

function dragTo(map, event, px, py) {
  const drag = map.drag, box = area(map);
  px = Math.min(Math.max(px, box.left), box.left + box.width);
  py = Math.min(Math.max(py, box.top), box.top + box.height);
  drag.moved = drag.moved || Math.hypot(px - drag.start[0], py - drag.start[1]) >= MOVE_PIXELS;
  if (!drag.moved && !drag.touch) return;
  drag.spot = spotAt(map, px, py, drag.touch); // a finger names the dot under it; a dragged cross is a free point
  if (drag.touch) showTip(map, px, py, drag.spot);
  requestLive(map, { source: "drag", ...drag.spot, cross: drag.moved ? [drag.spot.x, drag.spot.y] : undefined },
              event.timeStamp);
}

function onRelease(map, event) {
  const drag = map.drag;
  if (!drag || event.pointerId !== drag.id) return;
  map.drag = null;
  if (map.overlay.hasPointerCapture(event.pointerId)) map.overlay.releasePointerCapture(event.pointerId);
  if (drag.touch) map.tip.hidden = true; // a tap or a drag leaves no tip behind
  if (drag.moved && drag.spot && event.type === "pointerup") {
    map.suppressClick = true; // the click that follows a drag is not a click
    setTimeout(() => { map.suppressClick = false; }, 0);
    commit(map, drag.spot);
  } else if (!map.hovering) showCommitted(map);
}

function onKey(map, event) {
  const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
  const start = map.data && !map.data.view_only && (map.keyPoint || map.pending || map.data.marker);
  if (!start || !(event.key in moves)) return; // no chosen point (Interpolate) or only to look at: nothing to move
  event.preventDefault(); // not the page's scrolling
  clearTimeout(map.keyTimer);
  const [x0, x1] = map.data.x_range, [y0, y1] = map.data.y_range;
  const step = KEY_STEP * (event.shiftKey ? 10 : 1), [dx, dy] = moves[event.key];
  const x = Math.min(Math.max(start[0] + dx * step * (x1 - x0), x0), x1);
  const y = Math.min(Math.max(start[1] + dy * step * (y1 - y0), y0), y1);
  map.keyPoint = [x, y];
  requestLive(map, { source: "keys", x, y, index: null, cross: [x, y] }, event.timeStamp);
}

function onKeyUp(map, event) {
  if (map.keyPoint === null || !event.key.startsWith("Arrow")) return;
  clearTimeout(map.keyTimer);
  map.keyTimer = setTimeout(() => { // one commit after a run of key presses
    const [x, y] = map.keyPoint;
    map.keyPoint = null;
    commit(map, { x, y, index: null });
  }, COMMIT_PAUSE_MS);
}

function showTip(map, px, py, spot) {
  const tip = map.tip, names = map.data.axis_titles;
  if (spot.index === null) {
    const where = `${names[0]} = ${spot.x.toFixed(2)}, ${names[1]} = ${spot.y.toFixed(2)}`;
    tip.textContent = map.data.view_only ? where : `${where}: click to decode`;
  } else {
    tip.textContent = `Image #${spot.index} · Class: ${map.data.class_names[map.points.labels[spot.index]]}`;
  }
  tip.hidden = false;
  const right = px + 14 + tip.offsetWidth <= map.width; // beside the pointer, on whichever side has room
  tip.style.left = `${Math.max(0, right ? px + 14 : px - 14 - tip.offsetWidth)}px`;
  tip.style.top = `${py - 30 >= 0 ? py - 30 : py + 18}px`;
}

// ------------------------------------------------------------------ legend

function drawLegend(map) {
  const data = map.data, legend = map.legend;
  const local = Boolean(data.legend_local); // hidden here only (Interpolate), not by the server
  if (!local) map.localHidden = null;
  map.hidden = new Set(local ? (map.localHidden || data.hidden || []) : (data.hidden || []));
  const signature = JSON.stringify([data.class_names, data.colors, data.symbols, map.points.count > 0]);
  if (legend.dataset.signature !== signature) { // rebuilt only when the classes change, so a focused button keeps focus
    legend.dataset.signature = signature;
    buildLegend(map, legend);
  }
  for (const item of legend.querySelectorAll(".latent-map-legend-item")) {
    item.setAttribute("aria-pressed", String(!map.hidden.has(Number(item.dataset.label))));
  }
}

function buildLegend(map, legend) {
  const data = map.data;
  legend.replaceChildren();
  if (!data.class_names.length || !map.points.count) return;
  const title = document.createElement("div");
  title.className = "latent-map-legend-title";
  title.textContent = "Class (click to hide)";
  legend.appendChild(title);
  data.class_names.forEach((name, label) => {
    const item = document.createElement("button");
    item.type = "button";
    item.className = "latent-map-legend-item";
    item.dataset.label = String(label);
    const swatch = document.createElement("canvas");
    swatch.width = swatch.height = 14;
    const context = swatch.getContext("2d");
    context.fillStyle = data.colors[label % data.colors.length];
    context.beginPath();
    shapePath(context, data.symbols[label % data.symbols.length], 7, 7, 5);
    context.fill();
    item.append(swatch, document.createTextNode(name));
    item.addEventListener("click", () => onLegend(map, label));
    legend.appendChild(item);
  });
}

function onLegend(map, label) {
  if (!map.data.legend_local && map.send) { map.send("legend", label); return; }
  const hidden = new Set(map.hidden);
  if (hidden.has(label)) hidden.delete(label); else hidden.add(label);
  map.localHidden = Array.from(hidden);
  drawLegend(map);
  map.width = 0;
  layout(map);
}

// ------------------------------------------------------------------ what the tests read

/** The map's state; ``{dots: false}`` leaves out the visible dots' lists (a million of them is a lot to read). */
function describe(map, { dots = true } = {}) {
  const rect = map.canvas.getBoundingClientRect(), box = area(map), points = map.points;
  const shown = [];
  if (dots) for (let i = 0; i < points.count; i++) if (visible(map, i)) shown.push(i);
  return {
    left: rect.left + box.left, top: rect.top + box.top, width: box.width, height: box.height,
    x_range: map.data.x_range, y_range: map.data.y_range, drawn: Number(map.root.dataset.drawn || 0),
    x: shown.map((i) => points.x[i]), y: shown.map((i) => points.y[i]), index: shown,
    label: shown.map((i) => points.labels[i]), marker: map.data.marker, hidden: Array.from(map.hidden),
    count: points.count, canvas: { left: rect.left, top: rect.top, ratio: map.canvas.width / Math.max(1, map.width) },
    live: describeLive(map), layers: describeLayers(map), selection: describeSelection(map),
  };
}
