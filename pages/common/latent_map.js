// The Latent space page's map: test images as coloured dots on a <canvas>, a cross at the chosen point,
// an optional picture of decoded images behind, and a legend that hides classes.
// Streamlit calls the default export on the first draw and again whenever the data changes, with the
// same parentElement; the map is built once and kept on that element (see pages/common/latent_map.py).
// Events sent to Python: "click" {x, y, index} (index: the test image under the mouse, or null)
// and "legend" (a class number).

const MARGIN = { left: 58, right: 12, top: 12, bottom: 46 };
const RADIUS = 3; // dot radius in CSS pixels (plotly's marker size 6)
const HIT_PIXELS = 6; // a click this close to a dot picks that test image
const OUTLINE_LIMIT = 5000; // above this many dots the white outlines are left out (speed)
const CELL = 16; // bucket size of the pixel grid used to find the dot under the mouse

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  let map = parentElement.__latentMap;
  if (!map) {
    map = createMap(parentElement);
    parentElement.__latentMap = map;
  }
  map.send = setTriggerValue;
  map.update(data);
  return () => map.destroy();
}

function createMap(parent) {
  const root = document.createElement("div");
  root.className = "latent-map";
  root.innerHTML = `
    <div class="latent-map-plot"><canvas tabindex="0" aria-label="Latent space map: click a spot to decode it (the sliders below move the same point)"></canvas>
      <div class="latent-map-tip" hidden></div></div>
    <div class="latent-map-legend" role="group" aria-label="Classes"></div>`;
  parent.appendChild(root);
  const plot = root.querySelector(".latent-map-plot");
  const canvas = root.querySelector("canvas");
  const tip = root.querySelector(".latent-map-tip");
  const legend = root.querySelector(".latent-map-legend");
  const map = { root, canvas, data: null, points: null, pixels: null, buckets: null, image: null, send: null,
                pending: null, width: 0, height: 0 };

  map.update = (data) => {
    const previous = map.data;
    map.data = data;
    if (!previous || previous.x !== data.x || previous.y !== data.y || previous.labels !== data.labels) {
      map.points = decodePoints(data);
    }
    map.pending = null; // the server's cross replaces the one drawn at the click
    if (!previous || previous.background !== data.background) loadBackground(map, data.background);
    plot.style.height = `${data.height}px`;
    drawLegend(map, legend);
    draw(map);
  };
  map.destroy = () => { resize.disconnect(); root.remove(); delete parent.__latentMap; };
  // What the browser tests read: where the plot area is on the page and where each dot is.
  map.describe = () => describe(map);

  const resize = new ResizeObserver(() => draw(map));
  resize.observe(plot);
  canvas.addEventListener("click", (event) => onClick(map, event));
  canvas.addEventListener("mousemove", (event) => showTip(map, tip, event));
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  return map;
}

function decodePoints(data) {
  const x = floats(data.x), y = floats(data.y);
  const labels = data.labels ? new Uint16Array(bytes(data.labels).buffer) : new Uint16Array(x.length);
  return { x, y, labels, count: x.length };
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

function loadBackground(map, source) {
  map.image = null;
  if (!source) return;
  const image = new Image();
  image.onload = () => { if (map.data && map.data.background === source) { map.image = image; draw(map); } };
  image.src = source;
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

function indexPixels(map) {
  const { x, y, count } = map.points;
  const pixels = new Float32Array(count * 2);
  const buckets = new Map();
  for (let i = 0; i < count; i++) {
    const [px, py] = toPixel(map, x[i], y[i]);
    pixels[2 * i] = px;
    pixels[2 * i + 1] = py;
    if (!visible(map, i) || !Number.isFinite(px) || !Number.isFinite(py)) continue;
    const id = bucketId(px, py);
    if (!buckets.has(id)) buckets.set(id, []);
    buckets.get(id).push(i);
  }
  map.pixels = pixels;
  map.buckets = buckets;
}

function bucketId(px, py) {
  return `${Math.floor(px / CELL)},${Math.floor(py / CELL)}`;
}

function nearestDot(map, px, py, limit) {
  let best = null, bestDistance = limit;
  const i0 = Math.floor(px / CELL), j0 = Math.floor(py / CELL);
  for (let a = -1; a <= 1; a++) for (let b = -1; b <= 1; b++) {
    for (const i of map.buckets.get(`${i0 + a},${j0 + b}`) || []) {
      const distance = Math.hypot(map.pixels[2 * i] - px, map.pixels[2 * i + 1] - py);
      if (distance <= bestDistance) { best = i; bestDistance = distance; }
    }
  }
  return best;
}

function mouse(map, event) {
  const rect = map.canvas.getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function inside(map, px, py) {
  const box = area(map);
  return px >= box.left && px <= box.left + box.width && py >= box.top && py <= box.top + box.height;
}

// ------------------------------------------------------------------ events

function onClick(map, event) {
  const [px, py] = mouse(map, event);
  if (!map.data || !inside(map, px, py)) return;
  const index = nearestDot(map, px, py, HIT_PIXELS);
  const [x, y] = index === null ? toPlane(map, px, py) : [map.points.x[index], map.points.y[index]];
  map.pending = [x, y]; // show the cross at once; the server's answer redraws it
  draw(map);
  if (map.send) map.send("click", { x, y, index });
}

function showTip(map, tip, event) {
  const [px, py] = mouse(map, event);
  if (!map.data || !inside(map, px, py)) { tip.hidden = true; return; }
  const index = nearestDot(map, px, py, HIT_PIXELS);
  const names = map.data.axis_titles;
  if (index === null) {
    const [x, y] = toPlane(map, px, py);
    tip.textContent = `${names[0]} = ${x.toFixed(2)}, ${names[1]} = ${y.toFixed(2)}: click to decode`;
  } else {
    tip.textContent = `Image #${index} · Class: ${map.data.class_names[map.points.labels[index]]}`;
  }
  tip.hidden = false;
  const right = px + 14 + tip.offsetWidth <= map.width; // beside the pointer, on whichever side has room
  tip.style.left = `${Math.max(0, right ? px + 14 : px - 14 - tip.offsetWidth)}px`;
  tip.style.top = `${py - 30 >= 0 ? py - 30 : py + 18}px`;
}

function drawLegend(map, legend) {
  const data = map.data;
  map.hidden = new Set(data.hidden || []);
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
    item.addEventListener("click", () => { if (map.send) map.send("legend", label); });
    legend.appendChild(item);
  });
}

// ------------------------------------------------------------------ drawing

function draw(map) {
  if (!map.data) return;
  const canvas = map.canvas, ratio = window.devicePixelRatio || 1;
  map.width = canvas.clientWidth;
  map.height = canvas.clientHeight;
  canvas.width = Math.round(map.width * ratio);
  canvas.height = Math.round(map.height * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, map.width, map.height);
  indexPixels(map);
  const box = area(map);
  context.fillStyle = "white";
  context.fillRect(box.left, box.top, box.width, box.height);
  if (map.image) context.drawImage(map.image, box.left, box.top, box.width, box.height);
  drawAxes(map, context, box, !map.image);
  context.save();
  context.beginPath();
  context.rect(box.left, box.top, box.width, box.height);
  context.clip();
  drawDots(map, context);
  const cross = map.pending || map.data.marker;
  if (cross) drawCross(context, ...toPixel(map, cross[0], cross[1]));
  context.restore();
  map.root.dataset.drawn = String(Number(map.root.dataset.drawn || 0) + 1);
}

function drawDots(map, context) {
  const { labels, count } = map.points, pixels = map.pixels, data = map.data;
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

function shapePath(context, symbol, x, y, r) {
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
  const arm = 7;
  context.lineCap = "round";
  for (const [width, color] of [[5, "white"], [2.5, "black"]]) {
    context.lineWidth = width;
    context.strokeStyle = color;
    context.beginPath();
    context.moveTo(x - arm, y - arm); context.lineTo(x + arm, y + arm);
    context.moveTo(x - arm, y + arm); context.lineTo(x + arm, y - arm);
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
      const [px, py] = axis === "x" ? toPixel(map, value, data.y_range[0]) : toPixel(map, data.x_range[0], value);
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

function describe(map) {
  const rect = map.canvas.getBoundingClientRect(), box = area(map), points = map.points;
  const shown = [];
  for (let i = 0; i < points.count; i++) if (visible(map, i)) shown.push(i);
  return {
    left: rect.left + box.left, top: rect.top + box.top, width: box.width, height: box.height,
    x_range: map.data.x_range, y_range: map.data.y_range, drawn: Number(map.root.dataset.drawn || 0),
    x: shown.map((i) => points.x[i]), y: shown.map((i) => points.y[i]), index: shown,
    label: shown.map((i) => points.labels[i]), marker: map.data.marker, hidden: Array.from(map.hidden),
  };
}
