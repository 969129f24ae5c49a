// Model page: run the model on one image (uploaded, picked from the test set, or drawn) and show the
// top-5 classes, the first conv layer's filters and every layer's output channels, labelled with the
// layer's name, shape and the summary's arithmetic. Everything comes from POST /models/{id}/feature-maps.
"use strict";

const modelId = Number(document.getElementById("model").dataset.modelId);
const drawCanvas = document.getElementById("draw-canvas");
let dataset = null;

function showError(error) {
  const box = document.getElementById("model-error");
  box.textContent = error ? error.message : "";
  box.classList.toggle("hidden", !error);
}

async function loadModel() {
  try {
    const model = await apiGet(`/models/${modelId}`);
    dataset = await apiGet(`/datasets/${model.dataset.id}`);
    const accuracy = model.metrics && model.metrics.accuracy;
    document.getElementById("model-headline").textContent =
      `${model.network.name} trained on ${model.dataset.name}` +
      (accuracy != null ? ` · test accuracy ${formatPercent(accuracy, 2)}` : "") +
      ` · input ${dataset.input_shape.join("x")}`;
    const tests = dataset.num_test_samples || 0;
    document.getElementById("test-index").max = Math.max(tests - 1, 0);
    for (const id of ["test-load", "test-random"]) document.getElementById(id).disabled = tests === 0;
  } catch (error) {
    showError(error);
  }
}

async function run(file, label = "") {
  showError(null);
  const form = new FormData();
  form.append("file", file);
  try {
    const { body } = await apiSend("POST", `/models/${modelId}/feature-maps`, form);
    showResult(body, label);
  } catch (error) {
    showError(error);
  }
}

function showResult(result, label) {
  document.getElementById("input-label").textContent = label;
  const seen = document.getElementById("input-seen");
  const input = result.input_values;
  const drawn = input.length === 3 ? mapCanvas(null, input) : mapCanvas(Array.isArray(input[0][0]) ? input[0] : input);
  seen.width = drawn.width;
  seen.height = drawn.height;
  seen.getContext("2d").drawImage(drawn, 0, 0);
  document.getElementById("top-classes").replaceChildren(topBars(result.top));
  document.getElementById("filters-name").textContent = result.first_conv ? `(${result.first_conv})` : "(none)";
  document.getElementById("filters").replaceChildren(...(result.filter_values ? filterCanvases(result.filter_values) : []));
  document.getElementById("layers").replaceChildren(...result.layers.map(layerSection));
}

function topBars(top) {
  return element("div", { class: "bars", id: "top-bars" }, top.map((entry, rank) => {
    const fill = element("div", { class: "bar-fill" });
    fill.style.width = `${(entry.probability * 100).toFixed(1)}%`;
    return element("div", { class: rank === 0 ? "bar-row best" : "bar-row", dataset: { classIndex: entry.class_index } },
      element("span", { class: "class-name" }, entry.class_name),
      element("div", { class: "bar-track" }, fill),
      element("span", { class: "num" }, formatPercent(entry.probability)));
  }));
}

function layerSection(layer) {
  const flat = layer.output_shape.length === 1;
  const grid = element("div", { class: flat ? "tile-grid flat" : "tile-grid" }, outputCanvases(layer.values));
  if (!flat) grid.style.setProperty("--tile-size", `${Math.max(28, Math.min(84, 2 * layer.output_shape[2]))}px`);
  const channels = flat ? "1 strip of its values" : `${layer.output_shape[0]} channels`;
  return element("div", { class: "layer-maps", dataset: { layer: layer.name } },
    element("h3", {}, `${layer.name} (${layer.type}) `, element("span", { class: "shape" }, `(${layer.output_shape.join(", ")})`),
      element("span", { class: "muted" }, ` · ${channels}`)),
    element("p", { class: "explain" }, layer.explain),
    grid);
}

async function runTestImage(index) {
  const response = await apiFetch(`/datasets/${dataset.id}/images/test/${index}`);
  if (!response.ok) {
    showError(new ApiProblem(response.status, await readBody(response)));
    return;
  }
  const classIndex = Number(response.headers.get("X-Class-Index"));
  const blob = await response.blob();
  const name = dataset.class_names[classIndex] ?? String(classIndex);
  await run(new File([blob], `test-${index}.png`, { type: "image/png" }), `Test image #${index}, true class: ${name}`);
}

// Drawing: white strokes on black, then scaled down to 28x28 and sent as a PNG.
function setUpDrawing() {
  const context = drawCanvas.getContext("2d");
  const clear = () => {
    context.fillStyle = "#000";
    context.fillRect(0, 0, drawCanvas.width, drawCanvas.height);
  };
  clear();
  context.strokeStyle = "#fff";
  context.lineWidth = 22;
  context.lineCap = "round";
  context.lineJoin = "round";
  let drawing = false;
  const point = (event) => {
    const box = drawCanvas.getBoundingClientRect();
    return [(event.clientX - box.left) * drawCanvas.width / box.width, (event.clientY - box.top) * drawCanvas.height / box.height];
  };
  drawCanvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    drawCanvas.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...point(event));
    context.lineTo(...point(event));
    context.stroke();
  });
  drawCanvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.stroke();
  });
  const stop = () => { drawing = false; };
  drawCanvas.addEventListener("pointerup", stop);
  drawCanvas.addEventListener("pointercancel", stop);
  document.getElementById("draw-clear").addEventListener("click", clear);
  document.getElementById("draw-run").addEventListener("click", () => {
    const small = element("canvas", { width: 28, height: 28 });
    small.getContext("2d").drawImage(drawCanvas, 0, 0, 28, 28);
    small.toBlob((blob) => run(new File([blob], "drawing.png", { type: "image/png" }), "Your drawing"), "image/png");
  });
}

document.getElementById("image-file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) run(file, `Uploaded: ${file.name}`);
});
document.getElementById("test-load").addEventListener("click", () =>
  runTestImage(Number(document.getElementById("test-index").value) || 0));
document.getElementById("test-random").addEventListener("click", () => {
  const index = Math.floor(Math.random() * (dataset.num_test_samples || 1));
  document.getElementById("test-index").value = index;
  runTestImage(index);
});
setUpDrawing();
loadModel();
