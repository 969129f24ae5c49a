// The layer table of a network summary: type, output shape, receptive field, parameters and
// multiply-adds per layer, a bar of each layer's share of the totals, and the layer's arithmetic
// on demand.
"use strict";

function layerTable(summary) {
  const totalParams = summary.total_params || 0;
  const totalMacs = summary.total_macs || 0;
  const body = element("tbody");
  heldRows(summary.layers || [], "", "", 0).forEach(({ layer, number, path, depth }) => {
    const explainRow = element("tr", { class: "explain hidden" },
      element("td", {}),
      element("td", { colspan: 9 }, element("pre", {}, layer.explain || "No arithmetic for this layer.")));
    const toggle = element("button", { type: "button", class: "small", "aria-expanded": "false",
      "aria-label": `Arithmetic of ${path}` }, "Arithmetic");
    toggle.addEventListener("click", () => showArithmetic(toggle, explainRow, explainRow.classList.contains("hidden")));
    body.append(
      element("tr", { class: depth ? `layer held depth-${depth}` : "layer", dataset: { layer: layer.name, depth: String(depth) } },
        element("td", { class: "num muted" }, number),
        // a block's layers (a residual block's path and shortcut) are indented under it
        element("td", { class: "name", style: `padding-left: ${0.5 + 1.25 * depth}rem` }, layer.name),
        element("td", {}, layer.type),
        element("td", { class: "shape" }, formatShape(layer.output_shape)),
        element("td", { class: "receptive" }, receptiveText(layer.receptive_field)),
        element("td", { class: "num" }, formatCount(layer.params)),
        element("td", {}, shareBar("params", layer.params, totalParams)),
        element("td", { class: "num" }, formatCount(layer.macs)),
        element("td", {}, shareBar("macs", layer.macs, totalMacs)),
        element("td", {}, toggle, " ", learnLink(layer))),
      explainRow);
  });
  const showAll = element("button", { type: "button", class: "small" }, "Show all arithmetic");
  showAll.addEventListener("click", () => {
    const open = showAll.textContent.startsWith("Show");
    showAll.textContent = open ? "Hide all arithmetic" : "Show all arithmetic";
    body.querySelectorAll("tr.layer").forEach((row) =>
      showArithmetic(row.querySelector("button"), row.nextElementSibling, open));
  });
  const table = element("table", { class: "layers" },
    element("thead", {}, element("tr", {},
      element("th", { class: "num" }, "#"), element("th", {}, "Layer"), element("th", {}, "Type"),
      element("th", {}, "Output shape"),
      element("th", { title: "Input pixels one output sees, and the jump between neighbouring outputs" }, "Receptive field"),
      element("th", { class: "num" }, "Parameters"),
      element("th", {}, "Share of parameters"), element("th", { class: "num" }, "Multiply-adds"),
      element("th", {}, "Share of multiply-adds"), element("th", {}, showAll))),
    body,
    element("tfoot", {}, element("tr", {},
      element("td", {}), element("td", { colspan: 2 }, `Input ${formatShape(summary.input_shape)}`),
      element("td", {}, "Total"), element("td", {}),
      element("td", { class: "num total-params" }, formatCount(totalParams)),
      element("td", { class: "muted" }, `${formatCount(summary.trainable_params)} trainable`),
      element("td", { class: "num total-macs" }, formatCount(totalMacs)),
      element("td", {}), element("td", {}))));
  return element("div", { class: "scroll" }, table);
}

// Each layer with its number ("3", or "3.2" for the second layer held by layer 3), its path as in
// parameter names ("residual_1.conv2d_1") and its nesting depth, a block followed by the layers it
// holds; the totals already count every layer once.
function heldRows(layers, numberPrefix, pathPrefix, depth) {
  return layers.flatMap((layer, index) => {
    const number = `${numberPrefix}${index + 1}`;
    const path = `${pathPrefix}${layer.name}`;
    return [{ layer, number, path, depth },
      ...heldRows(layer.layers || [], `${number}.`, `${path}.`, depth + 1)];
  });
}

// A conv or pooling layer's settings on the Learn page, which fits them to a small input.
const LEARNABLE = ["conv2d", "maxpool2d", "avgpool2d"];

function learnLink(layer) {
  if (!LEARNABLE.includes(layer.type) || !layer.window) return "";
  const [channels, height, width] = layer.input_shape;
  const { kernel, stride, padding, dilation } = layer.window;
  const query = new URLSearchParams({ layer: layer.name, kind: layer.type, channels, height, width,
    kernel: kernel[0], stride: stride[0], padding: padding[0], dilation: dilation[0] });
  if (layer.type === "conv2d") query.set("filters", layer.output_shape[0]);
  return element("a", { class: "button small learn-link", href: `/learn?${query}`,
    "aria-label": `See ${layer.name} compute on the Learn page` }, "Learn");
}

// "5x5, jump 1"; a dash once the output is flat (summaries stored before it was computed: blank)
function receptiveText(field) {
  if (field === undefined) return "";
  if (field === null) return "–";
  const [rows, cols] = field.size;
  const [jumpRows, jumpCols] = field.jump;
  return `${rows}x${cols}, jump ${jumpRows === jumpCols ? jumpRows : `${jumpRows}x${jumpCols}`}`;
}

function showArithmetic(toggle, explainRow, open) {
  explainRow.classList.toggle("hidden", !open);
  toggle.setAttribute("aria-expanded", String(open));
}

function shareBar(kind, value, total) {
  const fraction = total > 0 ? (value || 0) / total : 0;
  return element("div", { class: `share ${kind}`, title: `${formatPercent(fraction, 2)} of the network's ${kind === "params" ? "parameters" : "multiply-adds"}` },
    element("div", { class: "bar" }, element("div", { style: `width: ${(fraction * 100).toFixed(2)}%` })),
    element("span", { class: "pct" }, formatPercent(fraction)));
}

// "12 layers · 61,706 parameters · 416,520 multiply-adds per image"
function summaryHeadline(summary) {
  return `${(summary.layers || []).length} layers · ${formatCount(summary.total_params)} parameters · ` +
    `${formatCount(summary.total_macs)} multiply-adds per image`;
}
