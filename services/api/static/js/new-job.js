// New job page: a network definition checked by the engine as you type (POST /networks/validate),
// its summary before anything is stored, a dataset picked or uploaded, training parameters, submit.
"use strict";

const form = document.getElementById("new-job");
const definitionBox = document.getElementById("definition");
const networkSource = document.getElementById("network-source");
const datasetSelect = document.getElementById("dataset");
const exampleDefinitions = JSON.parse(document.getElementById("example-definitions").textContent);
const VALIDATE_DELAY_MS = 300;

let checked = null; // {definition, summary} of the editor's text when the engine accepted it
let savedNetwork = null; // {id, text}: the editor holds this stored network, unchanged
let validationRound = 0;
let validationTimer = null;
let chosenDataset = null;

// ---- network definition -------------------------------------------------------------------------

// One layer per line: a long network stays readable, and an error's line points at one layer.
function definitionText(definition) {
  const lines = Object.entries(definition).map(([key, value]) => key === "layers"
    ? `  "layers": [\n${value.map((layer) => `    ${oneLineJson(layer)}`).join(",\n")}\n  ]`
    : `  ${JSON.stringify(key)}: ${oneLineJson(value)}`);
  return `{\n${lines.join(",\n")}\n}`;
}

// JSON on one line with a space after each comma and colon: {"type": "conv2d", "filters": 6}
function oneLineJson(value) {
  if (Array.isArray(value)) return `[${value.map(oneLineJson).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${oneLineJson(item)}`).join(", ")}}`;
  }
  return JSON.stringify(value);
}

async function listSavedNetworks() {
  const page = await apiGet("/networks?limit=200");
  document.getElementById("saved-options").replaceChildren(...(page.items || []).map((network) =>
    element("option", { value: `saved:${network.id}` }, `#${network.id} ${network.name} (${formatCount(network.total_params)} parameters)`)));
}

async function chooseNetworkSource() {
  const [kind, key] = networkSource.value.split(/:(.*)/s);
  savedNetwork = null;
  if (kind === "example") {
    definitionBox.value = definitionText(exampleDefinitions[key]);
  } else if (kind === "saved") {
    const network = await apiGet(`/networks/${key}`);
    definitionBox.value = definitionText(network.definition);
    savedNetwork = { id: network.id, text: definitionBox.value };
  }
  validateSoon(0);
}

// The editor grows with the definition, up to a screenful.
function fitEditor() {
  definitionBox.rows = Math.min(Math.max(definitionBox.value.split("\n").length + 1, 12), 40);
}

function validateSoon(delay = VALIDATE_DELAY_MS) {
  fitEditor();
  clearTimeout(validationTimer);
  checked = null;
  updateSubmit();
  validationTimer = setTimeout(validateDefinition, delay);
}

async function validateDefinition() {
  const round = ++validationRound;
  const text = definitionBox.value;
  const status = document.getElementById("definition-status");
  if (!text.trim()) {
    showDefinitionState(null, "", []);
    return;
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (syntaxError) {
    showDefinitionState(null, `Not valid JSON yet: ${syntaxError.message}`, []);
    return;
  }
  status.replaceChildren(element("p", { class: "message info" }, "Checking…"));
  try {
    const { body } = await apiSend("POST", "/networks/validate", parsed);
    if (round !== validationRound) return;
    checked = { definition: parsed, summary: body.summary };
    showDefinitionState(body.summary, `Valid: ${summaryHeadline(body.summary)}.`, []);
  } catch (error) {
    if (round !== validationRound) return;
    const problem = error instanceof ApiProblem ? error : null;
    showDefinitionState(null, problem && problem.errors.length ? "The engine refuses this definition:" : error.message,
      problem ? problem.errors : []);
  }
  updateSubmit();
}

function showDefinitionState(summary, message, errors) {
  const valid = summary !== null;
  definitionBox.setAttribute("aria-invalid", String(!valid && message !== ""));
  document.getElementById("definition-status").replaceChildren(message
    ? element("p", { class: `message ${valid ? "ok" : "error"}` }, message) : "");
  document.getElementById("definition-errors").replaceChildren(...errors.map(errorItem));
  document.getElementById("definition-summary").replaceChildren(valid ? layerTable(summary) : "");
  showCompatibility();
}

// The engine's message names the layer and the field; the chip says where it is in the editor, and a
// click selects that part of the definition.
function errorItem(error) {
  const loc = Array.isArray(error.loc) ? error.loc : [];
  const range = locateJsonPath(definitionBox.value, loc);
  const where = loc.map((part) => (typeof part === "number" ? `[${part}]` : `.${part}`)).join("").replace(/^\./, "");
  const item = element("li", { title: "Show in the definition", dataset: { loc: JSON.stringify(loc) } },
    element("span", { class: "where" }, range ? `line ${range.line}` : where || "definition"), error.msg);
  item.addEventListener("click", () => {
    if (!range) return;
    definitionBox.focus();
    definitionBox.setSelectionRange(range.start, range.end);
  });
  return item;
}

// ---- dataset ------------------------------------------------------------------------------------

async function listDatasets(selectId) {
  const page = await apiGet("/datasets?limit=200");
  const options = (page.items || []).map((dataset) => element("option", { value: dataset.id },
    `#${dataset.id} ${dataset.name} · ${formatCount(dataset.num_samples)} samples · ${formatShape(dataset.input_shape)} · ${dataset.num_classes} classes`));
  datasetSelect.replaceChildren(element("option", { value: "" }, "— choose a dataset —"), ...options);
  // The newest dataset is the likeliest choice; an upload selects itself.
  datasetSelect.value = selectId ? String(selectId) : options.length ? options[0].value : "";
  await chooseDataset();
}

async function chooseDataset() {
  const info = document.getElementById("dataset-info");
  chosenDataset = null;
  updateSubmit();
  if (!datasetSelect.value) {
    info.replaceChildren();
    showCompatibility();
    return;
  }
  const dataset = await apiGet(`/datasets/${datasetSelect.value}`);
  chosenDataset = dataset;
  info.replaceChildren(
    element("p", {}, `${formatCount(dataset.num_samples)} training samples, ${formatCount(dataset.num_test_samples)} test samples; ` +
      `each ${formatShape(dataset.input_shape)}; ${dataset.num_classes} classes.`),
    element("div", { class: "samples" }, (dataset.classes || []).map((samples) =>
      element("figure", {},
        (samples.sample_urls || []).slice(0, 2).map((url) => element("img", { src: url, alt: `${samples.name} sample` })),
        element("figcaption", {}, `${samples.name} (${formatCount(samples.count)})`)))));
  showCompatibility();
  updateSubmit();
}

async function uploadDataset() {
  const file = document.getElementById("dataset-file").files[0];
  const status = document.getElementById("upload-status");
  if (!file) return;
  const button = document.getElementById("upload-dataset");
  button.disabled = true;
  status.replaceChildren(element("p", { class: "message info" }, `Uploading ${file.name}…`));
  const upload = new FormData();
  upload.append("file", file);
  try {
    const { body } = await apiSend("POST", "/datasets", upload);
    status.replaceChildren(element("p", { class: "message ok" }, `Stored as dataset #${body.id}: ${formatCount(body.num_samples)} samples.`));
    await listDatasets(body.id);
  } catch (error) {
    status.replaceChildren(element("p", { class: "message error" }, `Upload refused: ${error.message}`),
      element("ul", { class: "error-list" }, (error.errors || []).map((item) => element("li", {}, item.msg))));
  }
  button.disabled = false;
}

// The API decides; this only warns early when the network and the dataset cannot fit together.
function showCompatibility() {
  const box = document.getElementById("compatibility");
  const warnings = [];
  if (checked && chosenDataset) {
    const expects = checked.summary.input_shape || [];
    if (formatShape(expects) !== formatShape(chosenDataset.input_shape)) {
      warnings.push(`The network expects ${formatShape(expects)} inputs; this dataset's images are ${formatShape(chosenDataset.input_shape)}.`);
    }
    const layers = checked.summary.layers || [];
    const outputs = layers.length ? layers[layers.length - 1].output_shape : [];
    if (outputs.length === 1 && outputs[0] !== chosenDataset.num_classes) {
      warnings.push(`The last layer gives ${outputs[0]} outputs; this dataset has ${chosenDataset.num_classes} classes.`);
    }
  }
  box.replaceChildren(...warnings.map((text) => element("p", { class: "message error" }, text)));
}

// ---- training parameters and submit -------------------------------------------------------------

function trainingParams() {
  const field = (name) => form.elements[name].value.trim();
  const optimizer = { type: field("optimizer"), lr: Number(field("lr")) };
  if (optimizer.type === "sgd") optimizer.momentum = Number(field("momentum") || 0);
  const params = {
    epochs: Number(field("epochs")),
    batch_size: Number(field("batch_size")),
    optimizer,
    seed: Number(field("seed") || 0),
    validation_split: Number(field("validation_split") || 0),
  };
  if (field("workers")) params.workers = Number(field("workers"));
  if (field("schedule") !== "constant") {
    params.schedule = { type: field("schedule") };
    if (field("warmup_steps")) params.schedule.warmup_steps = Number(field("warmup_steps"));
  }
  params.augment = { crop_padding: Number(field("crop_padding") || 0), flip: form.elements.flip.checked,
    erase: Number(field("erase") || 0) };
  params.label_smoothing = Number(field("label_smoothing") || 0);
  params.test_time_flip = form.elements.test_time_flip.checked;
  return params;
}

function updateSubmit() {
  const missing = [];
  if (!checked) missing.push("a valid network definition");
  if (!datasetSelect.value) missing.push("a dataset");
  document.getElementById("submit-job").disabled = missing.length > 0;
  document.getElementById("submit-hint").textContent = missing.length ? `Needs ${missing.join(" and ")}.` : "";
}

async function networkIdToTrain() {
  if (savedNetwork && savedNetwork.text === definitionBox.value) return savedNetwork.id;
  const { body } = await apiSend("POST", "/networks", checked.definition);
  savedNetwork = { id: body.id, text: definitionBox.value };
  return body.id;
}

async function submitJob(event) {
  event.preventDefault();
  const status = document.getElementById("submit-status");
  const button = document.getElementById("submit-job");
  clearFieldErrors();
  button.disabled = true;
  status.replaceChildren(element("p", { class: "message info" }, "Submitting…"));
  try {
    const request = { kind: "train", network_id: await networkIdToTrain(), dataset_id: Number(datasetSelect.value), params: trainingParams() };
    const { body, location: jobUrl } = await apiSend("POST", "/jobs", request);
    const jobId = body && body.id ? body.id : Number((jobUrl || "").split("/").pop());
    status.replaceChildren(element("p", { class: "message ok" }, `Job #${jobId} queued.`));
    window.location.href = `/jobs/${jobId}`;
  } catch (error) {
    status.replaceChildren(element("p", { class: "message error" }, `Not submitted: ${error.message}`));
    (error.errors || []).forEach(showFieldError);
    button.disabled = false;
  }
}

// ["params", "optimizer", "lr"] -> the "lr" input; errors for other places stay in the message above.
function showFieldError(error) {
  const loc = (error.loc || []).filter((part) => part !== "body");
  const input = form.elements[loc[loc.length - 1]];
  if (loc[0] !== "params" || !input || !input.closest) return;
  input.setAttribute("aria-invalid", "true");
  input.closest(".field").append(element("span", { class: "field-error" }, error.msg));
}

function clearFieldErrors() {
  form.querySelectorAll(".field-error").forEach((node) => node.remove());
  form.querySelectorAll(".field [aria-invalid='true']").forEach((node) => node.removeAttribute("aria-invalid"));
}

// ---- wiring ---------------------------------------------------------------------------------------

definitionBox.addEventListener("input", () => validateSoon());
networkSource.addEventListener("change", chooseNetworkSource);
datasetSelect.addEventListener("change", chooseDataset);
document.getElementById("dataset-file").addEventListener("change", (event) => {
  document.getElementById("upload-dataset").disabled = event.target.files.length === 0;
});
document.getElementById("upload-dataset").addEventListener("click", uploadDataset);
form.elements.optimizer.addEventListener("change", () => {
  document.getElementById("momentum-field").classList.toggle("hidden", form.elements.optimizer.value !== "sgd");
});
form.addEventListener("submit", submitJob);

listSavedNetworks();
listDatasets();
const firstExample = "lenet5" in exampleDefinitions ? "lenet5" : Object.keys(exampleDefinitions)[0];
if (firstExample) {
  networkSource.value = `example:${firstExample}`;
  chooseNetworkSource();
}
updateSubmit();
