// Drawing the latent map: the base layer (background picture, axes, dots; redrawn only when the data or
// the size changes) and the overlay (cross, interpolation path, its ends and the scrubber's spot; redrawn
// on every live frame, which stays cheap at 70,000 dots). Up to DENSE_DOTS dots each is a marker shape of its class;
// above, a small square written straight into the canvas's pixels in one pass (1,000,000 dots in well under a
// second, where a million path shapes take many). Geometry comes from latent_map.js. The research layers
// (map_layers.js: density picture under the dots, prior rings and ellipses on the overlay) and the selection's
// rings and band (map_select.js) are drawn here, in that order.
import { drawOverDots, drawUnderDots } from "./map_layers.js";
import { drawSelection } from "./map_select.js";

const RADIUS = 3; // dot radius in CSS pixels (plotly's marker size 6)
const OUTLINE_LIMIT = 5000; // above this many dots the white outlines are left out (speed)
export const DENSE_DOTS = 20000; // above this many dots each is a square of pixels, not a shape (see drawDensePixels)
export const DENSE_SIDE = 3; // CSS pixels: the side of a dense dot's square
const CROSS_ARM = 7; // half the cross's width, CSS pixels
const END_RADIUS = 8; // the A and B markers of an interpolation path
const SCRUB_RADIUS = 6; // the scrubber's spot on the path
const END_COLORS = { A: "#D55E00", B: "#0072B2" }; // Okabe-Ito vermillion / blue, as the page's text says

/** Size a canvas to its CSS box at the screen's pixel ratio; returns its 2-D context in CSS pixels. */
export function sizedContext(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  return context;
}

/** The base layer: white plot area, background picture, axes and grid, the visible dots. */
export function drawBase(map, box) {
  const context = sizedContext(map.canvas, map.width, map.height);
  context.fillStyle = "white";
  context.fillRect(box.left, box.top, box.width, box.height);
  if (map.image) context.drawImage(map.image, box.left, box.top, box.width, box.height);
  drawAxes(map, context, box, !map.image);
  context.save();
  context.beginPath();
  context.rect(box.left, box.top, box.width, box.height);
  context.clip();
  drawUnderDots(map, context);
  drawDots(map, context, box);
  context.restore();
}

/** The overlay: the path and its ends (Interpolate), the scrubber's spot, the cross at the chosen point. */
export function drawOverlay(map, box) {
  const context = sizedContext(map.overlay, map.width, map.height);
  if (!map.data) return;
  context.save();
  context.beginPath();
  context.rect(box.left, box.top, box.width, box.height);
  context.clip();
  drawOverDots(map, context);
  drawSelection(map, context);
  const path = map.data.path;
  if (path && path.length >= 2) drawPath(map, context, path);
  if (map.scrub) drawSpot(context, ...map.toPixel(map.scrub[0], map.scrub[1]), SCRUB_RADIUS, "#111", "white");
  const cross = map.pending || map.data.marker;
  if (cross) drawCross(context, ...map.toPixel(cross[0], cross[1]));
  context.restore();
}

function drawDots(map, context, box) {
  const { labels, count } = map.points, pixels = map.pixels, data = map.data;
  if (count > DENSE_DOTS && drawDensePixels(map, context, box)) return;
  const outline = count <= OUTLINE_LIMIT;
  context.lineWidth = 0.5;
  context.strokeStyle = "white";
  context.globalAlpha = 0.85;
  for (let label = 0; label < data.class_names.length; label++) { // Python names every class up to the largest label
    if (map.hidden.has(label)) continue;
    const symbol = data.symbols[label % data.symbols.length];
    context.fillStyle = data.colors[label % data.colors.length];
    context.beginPath();
    for (let i = 0; i < count; i++) {
      if (labels[i] === label) shapePath(context, symbol, pixels[2 * i], pixels[2 * i + 1], RADIUS);
    }
    context.fill();
    if (outline) context.stroke();
  }
  context.globalAlpha = 1;
}

/**
 * Every visible dot as an opaque DENSE_SIDE square of its class colour, written into the plot box's pixels in
 * one pass over the typed arrays, in index order (a later dot covers an earlier one). The square of a dot at
 * CSS (px, py) covers device columns floor(px * ratio - side / 2) .. + side - 1 (rows alike), side =
 * max(1, round(DENSE_SIDE * ratio)); tests compute the same. False when the canvas cannot be read back (a
 * picture from elsewhere tainted it): the shapes are drawn instead.
 */
function drawDensePixels(map, context, box) {
  const canvas = context.canvas, ratio = canvas.width / Math.max(1, map.width);
  const left = Math.max(0, Math.round(box.left * ratio)), top = Math.max(0, Math.round(box.top * ratio));
  const right = Math.min(canvas.width, Math.round((box.left + box.width) * ratio));
  const bottom = Math.min(canvas.height, Math.round((box.top + box.height) * ratio));
  const width = right - left, height = bottom - top;
  if (width <= 0 || height <= 0) return true;
  let image;
  try {
    image = context.getImageData(left, top, width, height); // the white plot, background and density under the dots
  } catch (error) {
    return false;
  }
  const out = new Uint32Array(image.data.buffer);
  const colors = classColors(map), { labels, count } = map.points, pixels = map.pixels;
  const side = Math.max(1, Math.round(DENSE_SIDE * ratio)), half = side / 2;
  for (let i = 0; i < count; i++) {
    const color = colors[labels[i]];
    if (color === 0) continue; // a hidden class
    const column = Math.floor(pixels[2 * i] * ratio - half) - left, row = Math.floor(pixels[2 * i + 1] * ratio - half) - top;
    if (!(column > -side && column < width && row > -side && row < height)) continue; // off the plot, or not finite
    const c0 = Math.max(0, column), c1 = Math.min(width, column + side), r1 = Math.min(height, row + side);
    for (let r = Math.max(0, row); r < r1; r++) {
      for (let k = r * width + c0, end = r * width + c1; k < end; k++) out[k] = color; // (fill() costs more per call)
    }
  }
  context.putImageData(image, left, top);
  return true;
}

/** Each class's colour as one opaque RGBA pixel word (0 for a hidden class), read back from a 1-pixel canvas so
 *  any CSS colour works. Indexed by label, up to the largest uint16 label. */
function classColors(map) {
  const data = map.data, names = data.class_names.length;
  const probe = document.createElement("canvas");
  probe.width = probe.height = 1;
  const context = probe.getContext("2d", { willReadFrequently: true });
  const words = new Uint32Array(65536);
  for (let label = 0; label < names; label++) {
    if (map.hidden.has(label)) continue;
    context.clearRect(0, 0, 1, 1);
    context.fillStyle = data.colors[label % data.colors.length];
    context.fillRect(0, 0, 1, 1);
    const [red, green, blue] = context.getImageData(0, 0, 1, 1).data;
    words[label] = new Uint32Array(new Uint8ClampedArray([red, green, blue, 255]).buffer)[0]; // the page's byte order
  }
  return words;
}

function drawPath(map, context, path) {
  const points = path.map(([x, y]) => map.toPixel(x, y));
  context.lineWidth = 2;
  context.strokeStyle = "black";
  context.beginPath();
  points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
  context.stroke();
  context.fillStyle = "black";
  for (const [x, y] of points.slice(1, -1)) {
    context.beginPath();
    context.arc(x, y, 2.5, 0, 2 * Math.PI);
    context.fill();
  }
  for (const [name, [x, y]] of [["A", points[0]], ["B", points[points.length - 1]]]) {
    drawSpot(context, x, y, END_RADIUS, END_COLORS[name], "white");
    context.font = "bold 16px sans-serif";
    context.textAlign = "center";
    context.textBaseline = "bottom";
    context.lineWidth = 3;
    context.strokeStyle = "white";
    context.strokeText(name, x, y - END_RADIUS - 2);
    context.fillStyle = END_COLORS[name];
    context.fillText(name, x, y - END_RADIUS - 2);
  }
}

function drawSpot(context, x, y, radius, fill, ring) {
  context.beginPath();
  context.arc(x, y, radius, 0, 2 * Math.PI);
  context.fillStyle = fill;
  context.fill();
  context.lineWidth = 2;
  context.strokeStyle = ring;
  context.stroke();
}

/** A legend swatch or a dot: the path of one marker shape of radius r at (x, y). */
export function shapePath(context, symbol, x, y, r) {
  context.moveTo(x + r, y);
  if (symbol === "square") { context.rect(x - r, y - r, 2 * r, 2 * r); return; }
  if (symbol === "diamond") { polygon(context, x, y, [[0, -1.3], [1.3, 0], [0, 1.3], [-1.3, 0]], r); return; }
  if (symbol === "triangle-up") { polygon(context, x, y, [[0, -1.3], [1.2, 0.9], [-1.2, 0.9]], r); return; }
  if (symbol === "triangle-down") { polygon(context, x, y, [[0, 1.3], [1.2, -0.9], [-1.2, -0.9]], r); return; }
  if (symbol === "star") {
    const corners = [];
    for (let k = 0; k < 10; k++) {
      const angle = -Math.PI / 2 + k * Math.PI / 5, length = k % 2 ? 0.6 : 1.4;
      corners.push([length * Math.cos(angle), length * Math.sin(angle)]);
    }
    polygon(context, x, y, corners, r);
    return;
  }
  context.arc(x, y, r, 0, 2 * Math.PI);
}

function polygon(context, x, y, corners, r) {
  context.moveTo(x + corners[0][0] * r, y + corners[0][1] * r);
  for (const [cx, cy] of corners.slice(1)) context.lineTo(x + cx * r, y + cy * r);
  context.closePath();
}

function drawCross(context, x, y) {
  context.lineCap = "round";
  for (const [width, color] of [[5, "white"], [2.5, "black"]]) {
    context.lineWidth = width;
    context.strokeStyle = color;
    context.beginPath();
    context.moveTo(x - CROSS_ARM, y - CROSS_ARM); context.lineTo(x + CROSS_ARM, y + CROSS_ARM);
    context.moveTo(x - CROSS_ARM, y + CROSS_ARM); context.lineTo(x + CROSS_ARM, y - CROSS_ARM);
    context.stroke();
  }
}

function drawAxes(map, context, box, grid) {
  const data = map.data;
  context.font = "12px sans-serif";
  context.fillStyle = getComputedStyle(map.root).color || "#444"; // the page's text colour (light or dark theme)
  context.lineWidth = 1;
  for (const [axis, range] of [["x", data.x_range], ["y", data.y_range]]) {
    for (const value of ticks(range[0], range[1])) {
      const [px, py] = axis === "x" ? map.toPixel(value, data.y_range[0]) : map.toPixel(data.x_range[0], value);
      context.strokeStyle = value === 0 ? "#bbb" : "#eee";
      if (grid) {
        context.beginPath();
        if (axis === "x") { context.moveTo(px, box.top); context.lineTo(px, box.top + box.height); }
        else { context.moveTo(box.left, py); context.lineTo(box.left + box.width, py); }
        context.stroke();
      }
      const label = formatTick(value, range);
      context.textAlign = axis === "x" ? "center" : "right";
      context.textBaseline = axis === "x" ? "top" : "middle";
      if (axis === "x") context.fillText(label, px, box.top + box.height + 5);
      else context.fillText(label, box.left - 6, py);
    }
  }
  context.strokeStyle = "#999";
  context.strokeRect(box.left + 0.5, box.top + 0.5, box.width - 1, box.height - 1);
  context.font = "13px sans-serif";
  context.textAlign = "center";
  context.textBaseline = "bottom";
  context.fillText(data.axis_titles[0], box.left + box.width / 2, map.height - 4);
  context.save();
  context.translate(14, box.top + box.height / 2);
  context.rotate(-Math.PI / 2);
  context.textBaseline = "middle";
  context.fillText(data.axis_titles[1], 0, 0);
  context.restore();
}

function ticks(low, high) {
  const span = high - low;
  if (!(span > 0)) return [];
  const rough = span / 6, power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const out = [];
  for (let value = Math.ceil(low / step) * step; value <= high + 1e-9; value += step) {
    out.push(Math.abs(value) < step * 1e-6 ? 0 : value);
  }
  return out;
}

function formatTick(value, range) {
  const span = range[1] - range[0];
  const decimals = Math.max(0, -Math.floor(Math.log10(span / 6)));
  return value.toFixed(decimals);
}
