// The in-page decoder: runs a model's decoder, exported by vae/io/web.py (the format is described
// there), on one latent code at a time in plain JavaScript, and lifts a point of the map's plane to a
// full code exactly as vae/projection.py's Projection.from_2d does. No build step, no dependencies.
// All buffers are made when a decoder is created: a decode allocates nothing. Activations are kept in
// Float64Arrays (as fast as Float32Arrays here, and closer to exact); the weights stay float32.

export const FORMAT_NAME = "vae-web-decoder";
export const FORMAT_VERSION = 1;
const MAGIC = "VAEWEB1\n"; // the first bytes of a web decoder file
const LENGTH_BYTES = 4; // the uint32 header length after the magic
const FLOAT_BYTES = 4; // float32 weights
const NAN_PIXEL = 0.5; // LatentModel.decode shows a NaN pixel as mid grey
const INFINITE_CODE = 1e6; // LatentModel.decode turns +-inf in a code into +-1e6
const GRAY_LEVELS = 255; // vae/images.py to_uint8: a pixel in [0, 1] -> 0..255, rounded
const OPAQUE = 255; // alpha of every painted pixel

// ---------------------------------------------------------------- loading

/** The header and weights of a whole web decoder file (an ArrayBuffer, e.g. from fetch). */
export function readDecoderFile(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw new Error("This is not a web decoder file.");
  const length = new DataView(buffer).getUint32(MAGIC.length, true);
  const start = MAGIC.length + LENGTH_BYTES;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(start, start + length)));
  const weights = new Float32Array(buffer, start + length, header.weight_count);
  return { header, weights };
}

/** Float32 little-endian weights sent as base64 text (WebDecoder.payload()["weights"] in Python). */
export function weightsFromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Float32Array(bytes.buffer, 0, bytes.length / FLOAT_BYTES);
}

// ---------------------------------------------------------------- the decoder

/**
 * A decoder for one header and its weights (Float32Array). Returns
 * { latentDim, height, width, channels, sha256, decode(code) -> Float32Array of H*W*C values in [0, 1]
 *   (row-major, RGB last for colour; reused by the next call), decodeInto(code, imageData) }. Throws an
 * Error naming the first layer it cannot run; the caller then decodes on the server.
 */
export function createDecoder(header, weights) {
  checkHeader(header, weights);
  const latentDim = header.latent_dim;
  const [height, width] = header.image_shape;
  const channels = header.channels ?? 1; // 1: grey, 3: RGB; older files are grey
  const code = new Float64Array(latentDim);
  const runs = [];
  let current = code;
  for (const layer of header.layers) {
    const step = buildStep(layer, current, weights);
    runs.push(step.run);
    current = step.output;
  }
  const last = current;
  const pixels = new Float32Array(height * width * channels);

  function decode(values) {
    for (let i = 0; i < latentDim; i++) code[i] = finiteCode(Math.fround(values[i]));
    for (let i = 0; i < runs.length; i++) runs[i]();
    for (let i = 0; i < pixels.length; i++) pixels[i] = toPixel(last[i]);
    return pixels;
  }

  function decodeInto(values, imageData) {
    const rgba = imageData.data;
    decode(values);
    const rgb = channels === 3 ? [0, 1, 2] : [0, 0, 0]; // which value of a pixel paints red, green, blue
    for (let i = 0, j = 0; i < pixels.length; i += channels, j += 4) {
      for (let k = 0; k < 3; k++) rgba[j + k] = Math.floor(pixels[i + rgb[k]] * GRAY_LEVELS + 0.5);
      rgba[j + 3] = OPAQUE;
    }
    return imageData;
  }

  return { latentDim, height, width, channels, sha256: header.sha256, decode, decodeInto };
}

function checkHeader(header, weights) {
  if (header.format !== FORMAT_NAME || header.version !== FORMAT_VERSION) {
    throw new Error(`Not a ${FORMAT_NAME} version ${FORMAT_VERSION} header.`);
  }
  if (weights.length !== header.weight_count) {
    throw new Error(`The header names ${header.weight_count} weights but ${weights.length} came.`);
  }
  let size = header.latent_dim;
  for (const layer of header.layers) {
    if (!(layer.op in BUILDERS)) throw new Error(`The layer ${layer.name} (${layer.op}) cannot run in the page.`);
    if (product(layer.input_shape) !== size) throw new Error(`The layer ${layer.name} gets ${size} values.`);
    size = product(layer.output_shape);
  }
  const channels = header.channels ?? 1;
  if (channels !== 1 && channels !== 3) throw new Error(`An image of ${channels} channels cannot be painted.`);
  if (size !== product(header.image_shape) * channels) throw new Error("The last layer does not give the image.");
}

function product(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function finiteCode(value) {
  if (Number.isNaN(value)) return 0;
  return Math.max(-INFINITE_CODE, Math.min(INFINITE_CODE, value));
}

function toPixel(value) {
  if (Number.isNaN(value)) return NAN_PIXEL;
  return value < 0 ? 0 : value > 1 ? 1 : value;
}

function tensor(weights, spec) {
  if (spec === null) return null;
  const end = spec.offset + product(spec.shape);
  if (spec.offset < 0 || end > weights.length) throw new Error("A layer's weights lie outside the weights sent.");
  return weights.subarray(spec.offset, end);
}

// Each builder takes (layer, input buffer, weights) and returns { run, output }: run() reads the input
// buffer and fills the output buffer, made here once. Activations and reshapes work in place.
const BUILDERS = {
  linear: (layer, input, weights) => {
    const output = new Float64Array(layer.out_features);
    const weight = tensor(weights, layer.weight);
    const bias = tensor(weights, layer.bias) ?? new Float32Array(layer.out_features);
    return { output, run: () => linear(input, output, weight, bias, layer.in_features, layer.out_features) };
  },
  conv2d: convolutionStep,
  conv_transpose2d: convolutionStep,
  relu: (layer, input) => ({ output: input, run: () => relu(input) }),
  leaky_relu: (layer, input) => ({ output: input, run: () => leakyRelu(input, layer.slope) }),
  sigmoid: (layer, input) => ({ output: input, run: () => sigmoid(input) }),
  reshape: (layer, input) => ({ output: input, run: () => {} }),
  crop: (layer, input) => gatherStep(input, cropIndices(layer.input_shape, layer.starts, layer.stops)),
  permute: (layer, input) => gatherStep(input, permuteIndices(layer.input_shape, layer.axes)),
};

function buildStep(layer, input, weights) {
  return BUILDERS[layer.op](layer, input, weights);
}

// Both convolutions run as one matrix product plus a gather or scatter through a table of kernel taps
// (im2col / col2im): the inner loops then run over whole rows of pixels, several times faster in JS
// than looping over the kernel inside each pixel.
function convolutionStep(layer, input, weights) {
  const transposed = layer.op === "conv_transpose2d";
  const [inChannels, inHeight, inWidth] = layer.input_shape;
  const [outChannels, outHeight, outWidth] = layer.output_shape;
  const taps = layer.kernel[0] * layer.kernel[1];
  const output = new Float64Array(outChannels * outHeight * outWidth);
  const weight = tensor(weights, layer.weight);
  const bias = tensor(weights, layer.bias) ?? new Float32Array(outChannels);
  // The dense side has one pixel per kernel position: conv2d's output, the transposed conv's input.
  const [denseHeight, denseWidth, stridedHeight, stridedWidth] = transposed
    ? [inHeight, inWidth, outHeight, outWidth] : [outHeight, outWidth, inHeight, inWidth];
  const tapTable = tapIndices(layer, denseHeight, denseWidth, stridedHeight, stridedWidth);
  const dense = denseHeight * denseWidth;
  const strided = stridedHeight * stridedWidth;
  if (transposed) {
    const columns = new Float64Array(outChannels * taps * dense);
    return { output, run: () => convTranspose2d(input, output, weight, bias, columns, tapTable,
                                                 inChannels, outChannels, taps, dense, strided) };
  }
  const columns = new Float64Array(inChannels * taps * dense);
  return { output, run: () => conv2d(input, output, weight, bias, columns, tapTable,
                                     inChannels, outChannels, taps, dense, strided) };
}

/**
 * For kernel tap t = ky * kw + kx and pixel q of the dense side, the pixel of the strided side they
 * meet (index in one channel's plane), or -1 where that falls in the zero padding. Per axis:
 * strided = dense * stride - padding + tap * dilation.
 */
function tapIndices(layer, denseHeight, denseWidth, stridedHeight, stridedWidth) {
  const [kernelHeight, kernelWidth] = layer.kernel;
  const [strideY, strideX] = layer.stride;
  const [padTop, padLeft] = layer.padding;
  const [dilationY, dilationX] = layer.dilation;
  const table = new Int32Array(kernelHeight * kernelWidth * denseHeight * denseWidth);
  let i = 0;
  for (let ky = 0; ky < kernelHeight; ky++) {
    for (let kx = 0; kx < kernelWidth; kx++) {
      for (let y = 0; y < denseHeight; y++) {
        const sy = y * strideY - padTop + ky * dilationY;
        for (let x = 0; x < denseWidth; x++, i++) {
          const sx = x * strideX - padLeft + kx * dilationX;
          table[i] = sy < 0 || sy >= stridedHeight || sx < 0 || sx >= stridedWidth ? -1 : sy * stridedWidth + sx;
        }
      }
    }
  }
  return table;
}

/** out[r, c] += sum_i a[r * rowStride + i * innerStride] * b[i, c]; out (rows, cols), b (inner, cols). */
function multiplyAdd(out, a, rowStride, innerStride, b, rows, inner, cols) {
  for (let r = 0; r < rows; r++) {
    const outRow = r * cols;
    for (let i = 0; i < inner; i++) {
      const w = a[r * rowStride + i * innerStride];
      const bRow = i * cols;
      for (let c = 0; c < cols; c++) out[outRow + c] += w * b[bRow + c];
    }
  }
}

function fillBias(out, bias, channels, plane) {
  for (let c = 0; c < channels; c++) out.fill(bias[c], c * plane, (c + 1) * plane);
}

/** torch.nn.Conv2d, zero padding: columns[ci, t, q] = x[ci, tap t of pixel q]; out = weight (co, ci*t) @ columns + bias. */
function conv2d(x, out, weight, bias, columns, tapTable, inChannels, outChannels, taps, dense, strided) {
  const perChannel = taps * dense;
  for (let ci = 0; ci < inChannels; ci++) {
    const plane = ci * strided;
    const block = ci * perChannel;
    for (let i = 0; i < perChannel; i++) {
      const at = tapTable[i];
      columns[block + i] = at < 0 ? 0 : x[plane + at];
    }
  }
  fillBias(out, bias, outChannels, dense);
  multiplyAdd(out, weight, inChannels * taps, 1, columns, outChannels, inChannels * taps, dense);
}

/** torch.nn.ConvTranspose2d: columns[co, t, q] = sum_ci weight[ci, co, t] x[ci, q]; each adds to its tap's output pixel. */
function convTranspose2d(x, out, weight, bias, columns, tapTable, inChannels, outChannels, taps, dense, strided) {
  columns.fill(0);
  multiplyAdd(columns, weight, 1, outChannels * taps, x, outChannels * taps, inChannels, dense);
  fillBias(out, bias, outChannels, strided);
  const perChannel = taps * dense;
  for (let co = 0; co < outChannels; co++) {
    const plane = co * strided;
    const block = co * perChannel;
    for (let i = 0; i < perChannel; i++) {
      const at = tapTable[i];
      if (at >= 0) out[plane + at] += columns[block + i];
    }
  }
}

function gatherStep(input, indices) {
  const output = new Float64Array(indices.length);
  return { output, run: () => gather(input, output, indices) };
}

// ---------------------------------------------------------------- the ops

/** out[o] = bias[o] + sum_i weight[o, i] * x[i]; weight is (outFeatures, inFeatures), row-major. */
function linear(x, out, weight, bias, inFeatures, outFeatures) {
  for (let o = 0; o < outFeatures; o++) {
    let sum = bias[o];
    const row = o * inFeatures;
    for (let i = 0; i < inFeatures; i++) sum += weight[row + i] * x[i];
    out[o] = sum;
  }
}

function relu(x) {
  for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
}

function leakyRelu(x, slope) {
  for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] *= slope;
}

function sigmoid(x) {
  for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
}

function gather(x, out, indices) {
  for (let i = 0; i < indices.length; i++) out[i] = x[indices[i]];
}

/** For each output element (row-major), its index in the input: a box [starts, stops) of the input. */
function cropIndices(shape, starts, stops) {
  const outShape = starts.map((start, d) => stops[d] - start);
  return mapIndices(outShape, (position) => position.map((p, d) => p + starts[d]), shape);
}

/** Output dim d is input dim axes[d]. */
function permuteIndices(shape, axes) {
  const outShape = axes.map((axis) => shape[axis]);
  return mapIndices(outShape, (position) => {
    const source = new Array(shape.length);
    axes.forEach((axis, d) => { source[axis] = position[d]; });
    return source;
  }, shape);
}

function mapIndices(outShape, toSource, inShape) {
  const indices = new Int32Array(product(outShape));
  const position = new Array(outShape.length).fill(0);
  for (let i = 0; i < indices.length; i++) {
    indices[i] = toSource(position).reduce((flat, p, d) => flat * inShape[d] + p, 0);
    for (let d = outShape.length - 1; d >= 0; d--) {
      if (++position[d] < outShape[d]) break;
      position[d] = 0;
    }
  }
  return indices;
}

// ---------------------------------------------------------------- the plane -> code lift

/**
 * A lift from plane points to full codes, as Projection.from_2d(point, base) in vae/projection.py:
 * payload = vae.io.web.lift_payload(projection, base): { mean (D), axes (2 x D), base (D) or null }.
 * Returns { latentDim, lift(x, y) -> Float32Array (reused by the next call), setBase(base or null) }.
 */
export function createLift(payload) {
  const mean = Float64Array.from(payload.mean);
  const axis0 = Float64Array.from(payload.axes[0]);
  const axis1 = Float64Array.from(payload.axes[1]);
  const latentDim = mean.length;
  const code = new Float32Array(latentDim);
  let anchor = mean;
  let anchorX = 0; // the anchor's own plane position: (anchor - mean) . axis0
  let anchorY = 0;

  function setBase(base) {
    anchor = base == null ? mean : Float64Array.from(base);
    anchorX = 0;
    anchorY = 0;
    for (let d = 0; d < latentDim; d++) {
      anchorX += (anchor[d] - mean[d]) * axis0[d];
      anchorY += (anchor[d] - mean[d]) * axis1[d];
    }
  }

  function lift(x, y) {
    const offsetX = x - anchorX; // same order of operations as from_2d: anchor + offset @ axes
    const offsetY = y - anchorY;
    for (let d = 0; d < latentDim; d++) code[d] = anchor[d] + (offsetX * axis0[d] + offsetY * axis1[d]);
    return code;
  }

  setBase(payload.base);
  return { latentDim, lift, setBase };
}
