// Compare page: the curves of two or more jobs on the same axes, x in epochs. The chosen jobs are in
// the address (?jobs=3,5,8) so a comparison can be bookmarked; running jobs keep growing live.
"use strict";

const lossChart = curveChart(document.getElementById("compare-loss"), { xTitle: "epoch", yTitle: "loss" });
const accuracyChart = curveChart(document.getElementById("compare-accuracy"), { xTitle: "epoch", yTitle: "accuracy", yAsPercent: true });
let compared = new Map(); // job id -> {job, lastSeq, color, curves}
let stopPolling = null;

function pickedIds() {
  const raw = new URLSearchParams(location.search).get("jobs") || "";
  return raw.split(",").map(Number).filter((id) => Number.isInteger(id) && id > 0);
}

function describeParams(params = {}) {
  const optimizer = params.optimizer || {};
  const parts = [];
  if (params.epochs) parts.push(`${params.epochs} epochs`);
  if (params.batch_size) parts.push(`batch ${params.batch_size}`);
  if (optimizer.type) parts.push(`${optimizer.type} lr ${optimizer.lr ?? "?"}`);
  if (optimizer.momentum) parts.push(`momentum ${optimizer.momentum}`);
  if (params.workers) parts.push(`${params.workers} worker${params.workers === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

async function showPicker() {
  const page = await apiGet("/jobs?limit=200");
  const picked = new Set(pickedIds());
  const rows = (page.items || []).filter((job) => job.kind === "train").map((job) => {
    const box = element("input", { type: "checkbox", value: job.id, "aria-label": `Compare job ${job.id}`, checked: picked.has(job.id) });
    box.addEventListener("change", choosePicked);
    return element("tr", { dataset: { jobId: job.id } },
      element("td", {}, box),
      element("td", {}, element("a", { href: `/jobs/${job.id}` }, `#${job.id}`)),
      element("td", {}, networkLabel(job)),
      element("td", {}, datasetLabel(job)),
      element("td", {}, statusBadge(job.status)),
      element("td", { class: "muted job-params" }, describeParams(job.params)),
      element("td", { class: "num" }, formatPercent(job.latest_metrics.val_accuracy)),
      element("td", { class: "num" }, formatPercent(job.result_summary?.accuracy, 2)));
  });
  document.getElementById("picker-rows").replaceChildren(...rows);
  if (rows.length === 0) {
    document.getElementById("picker-rows").append(element("tr", {}, element("td", { colspan: 8, class: "empty" }, "No training jobs yet.")));
  }
}

function choosePicked() {
  const ids = [...document.querySelectorAll("#picker-rows input:checked")].map((box) => Number(box.value));
  history.replaceState(null, "", ids.length ? `?jobs=${ids.join(",")}` : location.pathname);
  startComparing(ids);
}

function startComparing(ids) {
  if (stopPolling) stopPolling();
  for (const chart of [lossChart, accuracyChart]) chart.data.datasets = [];
  compared = new Map(ids.map((id, index) => {
    const color = PALETTE[index % PALETTE.length];
    const curves = {
      lossTrain: addCurve(lossChart, `#${id} train`, color, "train"),
      lossVal: addCurve(lossChart, `#${id} validation`, color, "val"),
      accuracyTrain: addCurve(accuracyChart, `#${id} train`, color, "train"),
      accuracyVal: addCurve(accuracyChart, `#${id} validation`, color, "val"),
    };
    return [id, { job: null, lastSeq: 0, color, curves }];
  }));
  lossChart.update("none");
  accuracyChart.update("none");
  document.getElementById("picked-count").textContent = ids.length ? `· ${ids.length} chosen` : "";
  document.getElementById("compare-hint").classList.toggle("hidden", ids.length >= 2);
  showTable();
  stopPolling = poll(refreshAll, 2000);
}

async function refreshAll() {
  let anyRunning = false;
  for (const [id, entry] of compared) {
    if (entry.drained) continue;
    try {
      const job = await apiGetIfChanged(`/jobs/${id}`);
      if (job !== null) entry.job = job;
      const added = await readMetrics(entry);
      entry.drained = isFinal(entry.job.status) && added === 0;
    } catch (error) {
      if (!(error instanceof ApiProblem && error.status === 404)) throw error;
      entry.missing = error.message;
      entry.drained = true;
    }
    anyRunning = anyRunning || !entry.drained;
  }
  showTable();
  return anyRunning;
}

// x in epochs: a training step s of a job with S steps over E epochs sits at s * E / S.
async function readMetrics(entry) {
  const progress = entry.job.progress || {};
  const stepsPerEpoch = progress.steps && progress.epochs ? progress.steps / progress.epochs : null;
  const epochOf = (metric) => (stepsPerEpoch ? metric.step / stepsPerEpoch : metric.epoch);
  let added = 0;
  for (;;) {
    const page = await apiGet(`/jobs/${entry.job.id}/metrics?since=${entry.lastSeq}`);
    const items = page.metrics || [];
    const train = items.filter((metric) => metric.kind === "train");
    const val = items.filter((metric) => metric.kind === "val");
    appendPoints(lossChart, entry.curves.lossTrain, train.map((m) => ({ x: epochOf(m), y: m.loss })));
    appendPoints(lossChart, entry.curves.lossVal, val.map((m) => ({ x: epochOf(m), y: m.loss })));
    appendPoints(accuracyChart, entry.curves.accuracyTrain, train.map((m) => ({ x: epochOf(m), y: m.accuracy })));
    appendPoints(accuracyChart, entry.curves.accuracyVal, val.map((m) => ({ x: epochOf(m), y: m.accuracy })));
    added += items.length;
    entry.lastSeq = page.last_seq;
    if (!page.has_more) break;
  }
  return added;
}

function showTable() {
  const rows = [...compared.entries()].map(([id, { job, color, missing }]) => {
    if (missing) return element("tr", {}, element("td", {}, `#${id}`), element("td", { colspan: 7, class: "muted" }, missing));
    if (!job) return null;
    const metrics = job.latest_metrics || {};
    const result = job.result || {};
    return element("tr", {},
      element("td", {}, element("span", { style: `color: ${color}` }, "■ "), element("a", { href: `/jobs/${job.id}` }, `#${job.id}`)),
      element("td", {}, networkLabel(job)),
      element("td", {}, statusBadge(job.status)),
      element("td", { class: "muted" }, describeParams(job.params)),
      element("td", { class: "num" }, formatNumber(metrics.loss)),
      element("td", { class: "num" }, formatPercent(metrics.val_accuracy)),
      element("td", { class: "num" }, formatPercent(result.accuracy, 2)),
      element("td", { class: "num" }, metrics.images_per_second ? formatCount(Math.round(metrics.images_per_second)) : "–"));
  }).filter(Boolean);
  const table = element("table", {},
    element("thead", {}, element("tr", {},
      element("th", {}, "Job"), element("th", {}, "Network"), element("th", {}, "Status"), element("th", {}, "Parameters"),
      element("th", { class: "num" }, "Train loss"), element("th", { class: "num" }, "Validation accuracy"),
      element("th", { class: "num" }, "Test accuracy"), element("th", { class: "num" }, "Images/s"))),
    element("tbody", {}, rows));
  document.getElementById("compare-table").replaceChildren(table);
}

showPicker();
startComparing(pickedIds());
