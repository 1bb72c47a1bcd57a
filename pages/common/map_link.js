// Maps linked across the page (the Compare page): what the mouse shows on one map shows on the others of its
// channel too. Hovering a test image rings the same image in the other maps; with the same latent size the
// other map's picture decodes the very same code (a linked cursor, drawn as a "+"), otherwise that model's own
// code of the same image. A map joins only when its data names a channel: data.linked = {channel, same_code,
// same_images, picked} (same_images: dot i is the same test image in every map; picked: a test image number
// ringed in every map of the channel, or null). latent_map.js calls
// linkMap on every update; map_live.js calls map.onLive after each live picture. The marks are drawn on a
// canvas of their own over the map, which lets the mouse through.
import { sizedContext } from "./map_draw.js";
import { project, requestLive, showCommitted } from "./map_live.js";

const CHANNELS = new Map(); // channel name -> Set of the maps in it
const RING_RADIUS = 9; // CSS pixels: the ring around the same test image
const CURSOR_ARM = 8; // CSS pixels: half the width of the "+" at the shared code
const PICKED_COLOR = "#D55E00"; // Okabe-Ito vermillion: the image clicked last, in every map
const SHARED_SOURCES = new Set(["hover", "drag", "keys", "slider"]); // what the mouse or keys show right now

/** Join the channel ``spec.channel`` (or leave any channel when ``spec`` names none); clears this map's marks. */
export function linkMap(map, spec) {
  const channel = spec && spec.channel ? String(spec.channel) : null;
  if (map.link && map.link.channel !== channel) {
    const members = CHANNELS.get(map.link.channel);
    if (members) members.delete(map);
    if (members && !members.size) CHANNELS.delete(map.link.channel);
  }
  if (!channel) {
    if (map.link && map.link.layer) map.link.layer.remove();
    map.link = null;
    map.onLive = null;
    return;
  }
  if (!map.link || map.link.channel !== channel) map.link = { channel, layer: null, mark: null, spec };
  map.link.spec = spec;
  map.link.mark = null; // a server answer ends whatever the other map was showing here
  if (!CHANNELS.has(channel)) CHANNELS.set(channel, new Set());
  CHANNELS.get(channel).add(map);
  map.onLive = (want, code) => share(map, want, code);
  map.describeLink = () => describeLink(map);
  drawLink(map);
}

/** Tell the other maps of the channel what this map shows now (``code``: its decoded code, or null). */
function share(map, want, code) {
  if (!map.link || want.source === "linked") return;
  for (const other of CHANNELS.get(map.link.channel) || []) {
    if (other === map || !other.link) continue;
    if (!SHARED_SOURCES.has(want.source)) { // the mouse left: the other map shows its own point again
      if (other.link.mark && other.link.mark.from === map) clearMark(other);
      continue;
    }
    showFrom(other, map, want, code);
  }
}

function showFrom(other, map, want, code) {
  const index = want.index ?? null;
  const known = Boolean(map.link.spec.same_images && other.link.spec.same_images) && index !== null
    && index < other.points.count;
  const sameCode = Boolean(map.link.spec.same_code && other.link.spec.same_code && code && other.live
                           && other.live.latentDim === code.length);
  if (!sameCode && !known) { // an empty spot of a model of another size means nothing here
    if (other.link.mark && other.link.mark.from === map) clearMark(other);
    return;
  }
  const mark = { from: map, index: known ? index : null, cursor: null, code: null };
  if (sameCode) {
    mark.code = Array.from(code);
    mark.cursor = other.plane ? project(other.plane, code) : [code[0], code[1] ?? 0];
    requestLive(other, { source: "linked", code: Float32Array.from(code), caption: "The same code as the other map" },
                null);
  } else {
    requestLive(other, { source: "linked", index, x: other.points.x[index], y: other.points.y[index],
                         caption: `Image #${index} in this model` }, null);
  }
  other.link.mark = mark;
  drawLink(other);
}

function clearMark(map) {
  map.link.mark = null;
  drawLink(map);
  if (!map.hovering && !map.drag) showCommitted(map);
}

// ------------------------------------------------------------------ drawing

function layerOf(map) {
  if (!map.link.layer) {
    const layer = document.createElement("canvas");
    layer.className = "latent-map-link";
    Object.assign(layer.style, { position: "absolute", inset: "0", pointerEvents: "none" });
    map.plot.appendChild(layer);
    new ResizeObserver(() => drawLink(map)).observe(layer); // after the map's own layout (an outer element)
    map.link.layer = layer;
  }
  return map.link.layer;
}

function drawLink(map) {
  if (!map.link || !map.data || !map.width) return;
  const context = sizedContext(layerOf(map), map.width, map.height);
  const picked = map.link.spec.picked, mark = map.link.mark;
  if (Number.isInteger(picked) && picked < map.points.count) ring(map, context, picked, PICKED_COLOR, 3);
  if (mark && mark.index !== null) ring(map, context, mark.index, "#111", 2.5);
  if (mark && mark.cursor) plus(context, ...map.toPixel(mark.cursor[0], mark.cursor[1]));
}

function ring(map, context, index, color, width) {
  const [x, y] = map.toPixel(map.points.x[index], map.points.y[index]);
  for (const [lineWidth, stroke] of [[width + 3, "white"], [width, color]]) {
    context.beginPath();
    context.arc(x, y, RING_RADIUS, 0, 2 * Math.PI);
    context.lineWidth = lineWidth;
    context.strokeStyle = stroke;
    context.stroke();
  }
}

function plus(context, x, y) {
  context.lineCap = "round";
  for (const [lineWidth, stroke] of [[5, "white"], [2.5, "#111"]]) {
    context.beginPath();
    context.moveTo(x - CURSOR_ARM, y); context.lineTo(x + CURSOR_ARM, y);
    context.moveTo(x, y - CURSOR_ARM); context.lineTo(x, y + CURSOR_ARM);
    context.lineWidth = lineWidth;
    context.strokeStyle = stroke;
    context.stroke();
  }
}

/** What the browser tests read: the channel, the image ringed from another map, the shared code, the picked one. */
function describeLink(map) {
  const mark = map.link && map.link.mark;
  return { channel: map.link ? map.link.channel : null, picked: map.link ? map.link.spec.picked ?? null : null,
           index: mark ? mark.index : null, cursor: mark ? mark.cursor : null, code: mark ? mark.code : null };
}
