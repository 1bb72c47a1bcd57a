// Finding the dot under the mouse on the latent map (latent_map.js): the dots' pixel positions and a uniform grid
// over the canvas, built once per size, data and hidden classes in two passes over typed arrays (no per-dot
// objects: a million dots take tens of milliseconds). A hover or a click then reads the dots of the nine cells
// around the mouse only, not every dot: its cost depends on how crowded the spot is, not on how many dots there are.

export const HIT_PIXELS = 6; // a click this close to a dot picks that test image
const CELL = HIT_PIXELS; // the side of the grid's cells: a dot within HIT_PIXELS of a spot is in its 3 x 3 cells

/**
 * Every dot's CSS pixel position in the plot ``box`` (latent_map.js area()) as float32 pairs (map.pixels), and a
 * grid of CELL-pixel cells over the canvas holding the visible dots, by counting sort into typed arrays (map.grid: the dots of cell c are
 * order[starts[c]] .. order[starts[c + 1] - 1], lowest index first). Built once per size, data and hidden
 * classes; a hover then looks at the 3 x 3 cells around the mouse only, however many dots there are.
 */
export function indexPixels(map, box) {
  const { x, y, labels, count } = map.points;
  const [x0, x1] = map.data.x_range, [y0, y1] = map.data.y_range;
  const columns = Math.ceil(map.width / CELL) + 1, rows = Math.ceil(map.height / CELL) + 1;
  const pixels = new Float32Array(count * 2), cellOf = new Int32Array(count), starts = new Int32Array(columns * rows + 1);
  for (let i = 0; i < count; i++) {
    const px = box.left + (x[i] - x0) / (x1 - x0) * box.width, py = box.top + (y1 - y[i]) / (y1 - y0) * box.height;
    pixels[2 * i] = px; // the same sums as toPixel, so a dot's pixel is where the tests compute it
    pixels[2 * i + 1] = py;
    const column = Math.floor(pixels[2 * i] / CELL), row = Math.floor(pixels[2 * i + 1] / CELL);
    const inGrid = column >= 0 && column < columns && row >= 0 && row < rows; // false for NaN too
    cellOf[i] = inGrid && !map.hidden.has(labels[i]) ? row * columns + column : -1;
    if (cellOf[i] >= 0) starts[cellOf[i] + 1]++;
  }
  for (let c = 0; c < columns * rows; c++) starts[c + 1] += starts[c];
  const order = new Int32Array(starts[columns * rows]), next = starts.slice(0, columns * rows);
  for (let i = 0; i < count; i++) if (cellOf[i] >= 0) order[next[cellOf[i]]++] = i;
  map.pixels = pixels;
  map.grid = { columns, rows, starts, order };
}

/** The visible dot nearest CSS pixel (px, py) within ``limit`` <= CELL pixels (ties: the lower index), or null. */
export function nearestDot(map, px, py, limit) {
  if (!map.grid) return null; // not laid out yet
  const { columns, rows, starts, order } = map.grid, pixels = map.pixels;
  const column = Math.floor(px / CELL), row = Math.floor(py / CELL);
  let best = null, bestDistance = limit * limit;
  for (let r = Math.max(0, row - 1); r <= Math.min(rows - 1, row + 1); r++) {
    for (let c = Math.max(0, column - 1); c <= Math.min(columns - 1, column + 1); c++) {
      const cell = r * columns + c;
      for (let k = starts[cell]; k < starts[cell + 1]; k++) {
        const i = order[k], dx = pixels[2 * i] - px, dy = pixels[2 * i + 1] - py, distance = dx * dx + dy * dy;
        if (distance < bestDistance || (distance === bestDistance && (best === null || i < best))) {
          best = i;
          bestDistance = distance;
        }
      }
    }
  }
  return best;
}
