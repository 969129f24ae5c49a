// Learn page: one convolution or pooling layer on a small input, worked through by the engine
// (GET /lessons/convolution). The page draws what the API answers and adds nothing up itself:
// the products, their sums per input channel and every output value come from the API.
"use strict";

const lessonForm = document.getElementById("lesson-form");
const CONV_ONLY = ["dilation", "filters"];
let lesson = null;
let current = { k: 0, y: 0, x: 0 };
let pending = null;

function formatValue(value) {
  if (value === null || value === undefined) return "pad";
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(4)));
}

// A value inside a sum: negatives in brackets, "2×(-1)".
function formatTerm(value) {
  return value < 0 ? `(${formatValue(value)})` : formatValue(value);
}

// Settings from the address (the job page links a layer here), each kept within its control's bounds.
function settingsFromAddress() {
  const params = new URLSearchParams(window.location.search);
  const reduced = [];
  for (const control of lessonForm.elements) {
    if (!control.name || !params.has(control.name)) continue;
    const given = params.get(control.name);
    if (control.type !== "number") {
      if ([...control.options].some((option) => option.value === given)) control.value = given;
      continue;
    }
    const number = Math.round(Number(given));
    if (!Number.isFinite(number)) continue;
    const kept = Math.min(Math.max(number, Number(control.min)), Number(control.max));
    if (kept !== number) reduced.push(`${control.name} ${number} → ${kept}`);
    control.value = String(kept);
  }
  const note = document.getElementById("lesson-note");
  note.textContent = params.has("layer")
    ? `Settings of ${params.get("layer")}${reduced.length ? `, made small enough to show: ${reduced.join(", ")}` : ""}.`
    : "";
  note.classList.toggle("hidden", !note.textContent);
}

function lessonQuery() {
  const query = new URLSearchParams();
  for (const control of lessonForm.elements) {
    if (control.name && !control.disabled) query.set(control.name, control.value);
  }
  return query;
}

function syncControls() {
  const isConv = lessonForm.elements.kind.value === "conv2d";
  for (const name of CONV_ONLY) lessonForm.elements[name].disabled = !isConv;
}

async function loadLesson() {
  syncControls();
  const query = lessonQuery();
  const error = document.getElementById("lesson-error");
  try {
    lesson = await apiGet(`/lessons/convolution?${query}`);
  } catch (problem) {
    const details = (problem.errors || []).map((item) => item.msg);
    error.textContent = details.length ? details.join("; ") : problem.message;
    error.classList.remove("hidden");
    document.getElementById("lesson").classList.add("stale");
    return;
  }
  error.classList.add("hidden");
  document.getElementById("lesson").classList.remove("stale");
  const [depth, rows, cols] = lesson.layer.output_shape;
  current = { k: Math.min(current.k, depth - 1), y: Math.min(current.y, rows - 1), x: Math.min(current.x, cols - 1) };
  window.history.replaceState(null, "", `?${query}`);
  render();
}

function step(delta) {
  if (!lesson) return;
  const [depth, rows, cols] = lesson.layer.output_shape;
  const count = depth * rows * cols;
  const index = ((current.k * rows + current.y) * cols + current.x + delta + count) % count;
  current = { k: Math.floor(index / (rows * cols)), y: Math.floor(index / cols) % rows, x: index % cols };
  render();
}

// (row, column) in padded coordinates of every position the highlighted window reads.
function windowPositions() {
  const { kernel, stride, dilation } = lesson.layer.window;
  const positions = [];
  for (let i = 0; i < kernel[0]; i++) {
    for (let j = 0; j < kernel[1]; j++) {
      positions.push([current.y * stride[0] + i * dilation[0], current.x * stride[1] + j * dilation[1], i, j]);
    }
  }
  return positions;
}

function shapeText(shape) {
  const [depth, rows, cols] = shape;
  return `${rows}×${cols}×${depth}`;
}

function render() {
  const isConv = lesson.settings.kind === "conv2d";
  document.getElementById("lesson-input-shape").textContent = shapeText(lesson.layer.input_shape);
  document.getElementById("lesson-output-shape").textContent = shapeText(lesson.layer.output_shape);
  document.getElementById("lesson-params").textContent = formatCount(lesson.layer.params);
  document.getElementById("lesson-explain").textContent = lesson.layer.explain;
  document.getElementById("lesson-cell-name").textContent =
    `(${current.y}, ${current.x}) of ${isConv ? "filter" : "channel"} ${current.k}`;
  document.getElementById("lesson-input").replaceChildren(...inputGrids(isConv));
  document.getElementById("lesson-filters-card").classList.toggle("hidden", !isConv);
  document.getElementById("lesson-filters").replaceChildren(...(isConv ? filterGrids() : []));
  document.getElementById("lesson-output").replaceChildren(...outputGrids());
  document.getElementById("lesson-sum").replaceChildren(...(isConv ? convolutionSum() : poolingSum()));
}

function grid(rows, cols, cellFor, caption) {
  const body = element("tbody");
  for (let r = 0; r < rows; r++) {
    const row = element("tr");
    for (let c = 0; c < cols; c++) row.append(cellFor(r, c));
    body.append(row);
  }
  return element("figure", { class: "grid" }, element("table", {}, body), element("figcaption", {}, caption));
}

function inputGrids(isConv) {
  const [top, bottom, left, right] = lesson.layer.window.padding;
  const [, rows, cols] = lesson.layer.input_shape;
  const reads = new Set(windowPositions().map(([r, c]) => `${r},${c}`));
  return lesson.input.map((channel, c) => grid(rows + top + bottom, cols + left + right, (r, q) => {
    const padded = r < top || r >= top + rows || q < left || q >= left + cols;
    const read = reads.has(`${r},${q}`) && (isConv || c === current.k);
    return element("td", { class: `${padded ? "pad" : ""} ${read ? "read" : ""}`.trim() },
      padded ? "0" : formatValue(channel[r - top][q - left]));
  }, `channel ${c}`));
}

function filterGrids() {
  return lesson.weight.map((filter, k) => element("div", { class: `filter ${k === current.k ? "current" : ""}`.trim() },
    ...filter.map((channel, c) => grid(channel.length, channel[0].length,
      (i, j) => element("td", { class: k === current.k ? "read" : "" }, formatValue(channel[i][j])),
      `filter ${k}, channel ${c}`)),
    element("p", { class: "bias" }, `bias b${k} = ${formatValue(lesson.bias[k])}`)));
}

function outputGrids() {
  return lesson.output.map((channel, k) => grid(channel.length, channel[0].length, (y, x) => {
    const here = k === current.k && y === current.y && x === current.x;
    const cell = element("td", { class: here ? "current" : "", tabindex: "-1",
      "aria-label": `output (${y}, ${x}) of ${k}` }, formatValue(channel[y][x]));
    cell.addEventListener("click", () => { current = { k, y, x }; render(); });
    return cell;
  }, `${lesson.settings.kind === "conv2d" ? "filter" : "channel"} ${k}`));
}

function paddedValue(c, r, q) {
  const [top, , left] = lesson.layer.window.padding;
  const row = lesson.input[c][r - top];
  return row === undefined || row[q - left] === undefined ? 0 : row[q - left];
}

// Products of the window and the filter, per input channel, their sums and the bias: the
// engine's output value.
function convolutionSum() {
  const { k, y, x } = current;
  const terms = lesson.terms[k][y][x];
  const sums = lesson.channel_sums[k][y][x];
  const positions = windowPositions();
  const lines = terms.map((channel, c) => element("div", { class: "sum-line" },
    element("span", { class: "muted" }, `channel ${c}: `),
    positions.map(([r, q, i, j], n) => element("span", { class: "term" }, `${n ? " + " : ""}${formatTerm(paddedValue(c, r, q))}×${formatTerm(lesson.weight[k][c][i][j])}`)),
    " = ", element("span", { class: "channel-sum" }, formatValue(sums[c])),
    element("span", { class: "muted" }, ` (products ${channel.flat().map(formatValue).join(", ")})`)));
  const result = element("strong", { id: "lesson-result", dataset: { value: String(lesson.output[k][y][x]) } },
    formatValue(lesson.output[k][y][x]));
  return [...lines, element("div", { class: "sum-line total" },
    `${sums.map(formatTerm).join(" + ")} + bias ${formatTerm(lesson.bias[k])} = `, result)];
}

function poolingSum() {
  const { k, y, x } = current;
  const values = lesson.terms[k][y][x][0].flat().map(formatValue);
  const word = lesson.settings.kind === "maxpool2d" ? "max" : "mean";
  const note = word === "max" ? "padding is never the maximum" : `padding counts as 0; divided by ${values.length}`;
  const result = element("strong", { id: "lesson-result", dataset: { value: String(lesson.output[k][y][x]) } },
    formatValue(lesson.output[k][y][x]));
  return [element("div", { class: "sum-line total" }, `${word}(${values.join(", ")}) = `, result,
    element("span", { class: "muted" }, ` (${note})`))];
}

lessonForm.addEventListener("input", () => {
  window.clearTimeout(pending);
  pending = window.setTimeout(loadLesson, 200);
});
lessonForm.addEventListener("submit", (event) => event.preventDefault());
document.getElementById("lesson-prev").addEventListener("click", () => step(-1));
document.getElementById("lesson-next").addEventListener("click", () => step(1));
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea")) return;
  if (event.key === "ArrowRight") step(1);
  else if (event.key === "ArrowLeft") step(-1);
  else return;
  event.preventDefault();
});

settingsFromAddress();
loadLesson();
