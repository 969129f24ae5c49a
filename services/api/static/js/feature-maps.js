// Arrays drawn as small grey canvases: each map stretched from its own lowest value (black) to its
// highest (white), as the API's PNG tiles are. Canvases need no image URLs, so nothing here depends on
// what the page's Content-Security-Policy allows for img-src.
"use strict";

function valueRange(rows) {
  let low = Infinity;
  let high = -Infinity;
  for (const row of rows) for (const value of row) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  return [low, high];
}

// rows: [[...], ...] (H x W) of numbers -> a canvas of W x H pixels. With `channels` (3 arrays of rows),
// an RGB image stretched over all three together.
function mapCanvas(rows, channels = null) {
  const planes = channels || [rows];
  const height = planes[0].length;
  const width = planes[0][0].length;
  const canvas = element("canvas", { class: "tile", width, height });
  const [low, high] = planes.map(valueRange).reduce(([a, b], [c, d]) => [Math.min(a, c), Math.max(b, d)]);
  const scale = high > low ? 255 / (high - low) : 0;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const offset = 4 * (y * width + x);
      for (let c = 0; c < 3; c += 1) {
        const value = planes[planes.length === 3 ? c : 0][y][x];
        image.data[offset + c] = scale ? Math.round((value - low) * scale) : 128;
      }
      image.data[offset + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

// A layer's output: (C, H, W) -> one canvas per channel; (F,) -> one 1 x F strip.
function outputCanvases(values) {
  if (!Array.isArray(values[0])) return [mapCanvas([values])];
  return values.map((channel) => mapCanvas(channel));
}

// Conv weights (out, in, kh, kw) -> one canvas per filter: RGB when it reads 3 channels, otherwise
// its input channels side by side.
function filterCanvases(weights) {
  return weights.map((kernel) => {
    if (kernel.length === 3) return mapCanvas(null, kernel);
    const rows = kernel[0].map((_, row) => kernel.flatMap((channel) => channel[row]));
    return mapCanvas(rows);
  });
}
