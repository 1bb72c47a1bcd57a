// The training time-lapse on the Latent space page: the test images' codes after each epoch in one fixed frame,
// a slider over the epochs and a play button. Every frame is drawn here from the data sent once; playing and
// scrubbing never ask the server for anything (no rerun). Python: pages/common/timelapse_view.py.
// data: epochs [F], count N, points (base64 uint16, F*N*2 steps across the frame), labels (base64 uint16),
// class_names, colors, symbols, x_range, y_range, axis_titles, height, frame_ms.
import { shapePath, sizedContext } from "./map_draw.js";

const MARGIN = { left: 52, right: 12, top: 10, bottom: 40 };
const RADIUS = 3; // dot radius, CSS pixels (the map's)
const LEVELS = 65535; // the uint16 steps across the frame (timelapse_view.LEVELS)
const MIN_FRAME_MS = 40; // playing never faster than 25 epochs a second

export default function (component) {
  const { parentElement, data } = component;
  let player = parentElement.__timelapsePlayer;
  if (!player) {
    player = createPlayer(parentElement);
    parentElement.__timelapsePlayer = player;
  }
  player.update(data);
  return () => player.destroy();
}

function createPlayer(parent) {
  const root = document.createElement("div");
  root.className = "timelapse-player";
  root.innerHTML = `<canvas class="timelapse-canvas" role="img"></canvas>
    <div class="timelapse-controls">
      <button type="button" class="timelapse-play" aria-label="Play the time-lapse">▶ Play</button>
      <input type="range" class="timelapse-slider" min="0" max="0" step="1" value="0" aria-label="Epoch">
      <output class="timelapse-epoch"></output></div>
    <div class="timelapse-legend" role="list" aria-label="Classes"></div>`;
  parent.appendChild(root);
  const $ = (selector) => root.querySelector(selector);
  const player = { root, canvas: $("canvas"), button: $("button"), slider: $("input"), label: $("output"),
                   legend: $(".timelapse-legend"), data: null, positions: null, labels: null, index: 0,
                   timer: 0, width: 0, drawn: 0 };
  player.update = (data) => update(player, data);
  player.show = (index) => show(player, index);
  player.describe = () => ({ index: player.index, epoch: player.data ? player.data.epochs[player.index] : null,
                             playing: Boolean(player.timer), frames: player.data ? player.data.epochs.length : 0,
                             drawn: player.drawn }); // what the browser tests read
  player.destroy = () => { stop(player); resize.disconnect(); root.remove(); delete parent.__timelapsePlayer; };
  player.slider.addEventListener("input", () => { stop(player); show(player, Number(player.slider.value)); });
  player.button.addEventListener("click", () => (player.timer ? stop(player) : play(player)));
  const resize = new ResizeObserver(() => draw(player));
  resize.observe(root);
  return player;
}

function update(player, data) {
  if (!data || (player.data && player.data.points === data.points && player.data.labels === data.labels)) return;
  stop(player);
  player.data = data;
  player.positions = new Uint16Array(bytesOf(data.points).buffer);
  player.labels = new Uint16Array(bytesOf(data.labels).buffer);
  player.slider.max = String(data.epochs.length - 1);
  fillLegend(player);
  show(player, data.epochs.length - 1); // the finished map first: play starts from epoch 1
}

function bytesOf(text) {
  const raw = atob(text), bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function fillLegend(player) {
  const { class_names: names, colors } = player.data;
  player.legend.replaceChildren(...names.map((name, label) => {
    const item = document.createElement("span");
    item.className = "timelapse-legend-item";
    item.setAttribute("role", "listitem");
    const swatch = document.createElement("i");
    swatch.style.background = colors[label % colors.length];
    item.append(swatch, document.createTextNode(name)); // a class name is shown as plain text
    return item;
  }));
}

function play(player) {
  const data = player.data;
  if (!data || data.epochs.length < 2) return;
  if (player.index >= data.epochs.length - 1) show(player, 0);
  player.button.textContent = "❚❚ Pause";
  player.button.setAttribute("aria-label", "Pause the time-lapse");
  player.timer = setInterval(() => {
    if (player.index >= data.epochs.length - 1) { stop(player); return; }
    show(player, player.index + 1);
  }, Math.max(MIN_FRAME_MS, data.frame_ms));
}

function stop(player) {
  if (player.timer) clearInterval(player.timer);
  player.timer = 0;
  player.button.textContent = "▶ Play";
  player.button.setAttribute("aria-label", "Play the time-lapse");
}

function show(player, index) {
  const data = player.data;
  player.index = Math.max(0, Math.min(index, data.epochs.length - 1));
  player.slider.value = String(player.index);
  const text = `Epoch ${data.epochs[player.index]} of ${data.epochs[data.epochs.length - 1]}`;
  player.label.textContent = text;
  player.canvas.setAttribute("aria-label", `The test images' codes after epoch ${data.epochs[player.index]}`);
  draw(player);
}

function draw(player) {
  const data = player.data;
  if (!data) return;
  const width = player.root.clientWidth;
  if (!width) return;
  const side = Math.min(width - MARGIN.left - MARGIN.right, data.height); // a square plot: the frame's shape
  const box = { left: MARGIN.left, top: MARGIN.top, size: Math.max(side, 80) };
  const height = box.top + box.size + MARGIN.bottom;
  player.canvas.style.height = `${height}px`;
  const context = sizedContext(player.canvas, width, height);
  context.fillStyle = "white";
  context.fillRect(box.left, box.top, box.size, box.size);
  drawFrame(context, box, data, getComputedStyle(player.root).color || "#444");
  drawDots(player, context, box);
}

function drawDots(player, context, box) {
  const { count, class_names: names, colors, symbols } = player.data;
  const offset = player.index * count * 2, positions = player.positions, labels = player.labels;
  const scale = box.size / LEVELS;
  context.globalAlpha = 0.85;
  let drawn = 0;
  for (let label = 0; label < names.length; label++) {
    context.fillStyle = colors[label % colors.length];
    context.beginPath();
    for (let i = 0; i < count; i++) {
      if (labels[i] !== label) continue;
      const x = box.left + positions[offset + 2 * i] * scale;
      const y = box.top + box.size - positions[offset + 2 * i + 1] * scale;
      shapePath(context, symbols[label % symbols.length], x, y, RADIUS);
      drawn++;
    }
    context.fill();
  }
  context.globalAlpha = 1;
  player.drawn = drawn;
}

function drawFrame(context, box, data, ink) {
  context.strokeStyle = "#999";
  context.lineWidth = 1;
  context.strokeRect(box.left + 0.5, box.top + 0.5, box.size - 1, box.size - 1);
  context.fillStyle = ink;
  context.font = "12px sans-serif";
  const [x0, x1] = data.x_range, [y0, y1] = data.y_range;
  context.textAlign = "left"; context.textBaseline = "top";
  context.fillText(label(x0), box.left, box.top + box.size + 4);
  context.textAlign = "right";
  context.fillText(label(x1), box.left + box.size, box.top + box.size + 4);
  context.textBaseline = "bottom";
  context.fillText(label(y0), box.left - 4, box.top + box.size);
  context.textBaseline = "top";
  context.fillText(label(y1), box.left - 4, box.top);
  context.font = "13px sans-serif";
  context.textAlign = "center"; context.textBaseline = "bottom";
  context.fillText(data.axis_titles[0], box.left + box.size / 2, box.top + box.size + MARGIN.bottom - 2);
  context.save();
  context.translate(14, box.top + box.size / 2);
  context.rotate(-Math.PI / 2);
  context.textBaseline = "middle";
  context.fillText(data.axis_titles[1], 0, 0);
  context.restore();
}

function label(value) {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
}
