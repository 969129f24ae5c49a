// Job page: progress, loss and accuracy curves that grow while the job runs, the network's layers,
// and for a finished job its evaluation (or its error). Polls the job with If-None-Match and the
// metrics with `since`, until the job is final and every metric has been read.
"use strict";

const jobId = Number(document.getElementById("job").dataset.jobId);
const lossChart = curveChart(document.getElementById("loss-chart"), { xTitle: "step", yTitle: "loss" });
const accuracyChart = curveChart(document.getElementById("accuracy-chart"), { xTitle: "step", yTitle: "accuracy", yAsPercent: true });
const curves = {
  loss: { train: addCurve(lossChart, "train", "#2563eb", "train"), val: addCurve(lossChart, "validation", "#ea580c", "val") },
  accuracy: { train: addCurve(accuracyChart, "train", "#2563eb", "train"), val: addCurve(accuracyChart, "validation", "#ea580c", "val") },
};
// Shown only when the rate changes during the job (a schedule); a constant rate is in the stats.
const learningRateChart = curveChart(document.getElementById("learning-rate-chart"), { xTitle: "step", yTitle: "learning rate", legend: false });
const learningRateCurve = addCurve(learningRateChart, "learning rate", "#7c3aed", "train");
let lastSeq = 0;
let shownStatus = null;
let networkShown = false;

async function tick() {
  let job;
  try {
    job = await apiGetIfChanged(`/jobs/${jobId}`);
  } catch (error) {
    if (error instanceof ApiProblem && error.status === 404) {
      showMissing(error);
      return false;
    }
    throw error;
  }
  if (job !== null) showJob(job);
  const newMetrics = await readNewMetrics();
  // Stop once the job is final and its last metrics are on the charts.
  if (isFinal(shownStatus) && newMetrics === 0) {
    if (lastSeq === 0) document.getElementById("curves").classList.add("hidden");
    return false;
  }
  return true;
}

async function readNewMetrics() {
  let count = 0;
  for (;;) {
    const page = await apiGet(`/jobs/${jobId}/metrics?since=${lastSeq}`);
    const items = page.metrics || [];
    addMetrics(items);
    count += items.length;
    lastSeq = page.last_seq;
    if (!page.has_more) break;
  }
  return count;
}

function addMetrics(items) {
  for (const kind of ["train", "val"]) {
    const ofKind = items.filter((metric) => metric.kind === kind);
    appendPoints(lossChart, curves.loss[kind], ofKind.map((metric) => ({ x: metric.step, y: metric.loss })));
    appendPoints(accuracyChart, curves.accuracy[kind], ofKind.map((metric) => ({ x: metric.step, y: metric.accuracy })));
  }
  const train = items.filter((metric) => metric.kind === "train" && metric.learning_rate != null);
  appendPoints(learningRateChart, learningRateCurve, train.map((metric) => ({ x: metric.step, y: metric.learning_rate })));
  const rates = new Set(learningRateChart.data.datasets[learningRateCurve].data.map((point) => point.y));
  document.getElementById("learning-rate").classList.toggle("hidden", rates.size < 2);
  const trainPoints = lossChart.data.datasets[curves.loss.train].data.length;
  const valPoints = lossChart.data.datasets[curves.loss.val].data.length;
  const caption = `${trainPoints} train points (logged steps), ${valPoints} validation points (epochs)`;
  document.getElementById("loss-caption").textContent = caption;
  document.getElementById("accuracy-caption").textContent = caption;
}

function showJob(job) {
  const metrics = job.latest_metrics || {};
  document.getElementById("job-status").replaceChildren(statusBadge(job.status));
  document.getElementById("job-headline").textContent =
    `${job.kind} · ${networkLabel(job)} on ${datasetLabel(job)} · created ${formatTime(job.timings?.created_at)}` +
    (job.submitted_by ? ` by ${job.submitted_by}` : "") +
    (job.cancelled_by ? ` · cancelled by ${job.cancelled_by}` : "") +
    (job.waiting_for ? ` · waiting: ${job.waiting_for}` : "");
  // The x axis spans the whole job, so the curves visibly grow towards its end.
  if (job.progress && job.progress.steps) {
    for (const chart of [lossChart, accuracyChart, learningRateChart]) chart.options.scales.x.max = job.progress.steps;
  }
  const progressHolder = document.getElementById("job-progress");
  if (!progressHolder.firstChild) progressHolder.append(progressBar(job));
  updateProgressBar(progressHolder.firstChild, job);
  if (shownStatus !== job.status) {
    document.getElementById("job-actions").replaceChildren(isFinal(job.status) ? "" : cancelButton(job));
  }
  shownStatus = job.status;

  const training = job.kind === "train";
  const stats = [
    training && ["Loss", formatNumber(metrics.loss)],
    training && ["Accuracy", formatPercent(metrics.accuracy)],
    training && ["Validation loss", formatNumber(metrics.val_loss)],
    training && ["Validation accuracy", formatPercent(metrics.val_accuracy)],
    training && ["Images/s", metrics.images_per_second ? formatCount(Math.round(metrics.images_per_second)) : "–"],
    training && ["Learning rate", metrics.learning_rate == null ? "–" : String(Number(metrics.learning_rate.toPrecision(3)))],
    // Decided by the worker when the job starts, unless the job asked for a number.
    training && ["Processes", job.processes == null ? "–" : String(job.processes)],
    ["Running time", formatDuration(job.timings?.duration_seconds)],
    ["ETA", job.status === "running" ? formatDuration(job.progress?.eta_seconds) : "–"],
  ].filter(Boolean);
  document.getElementById("job-stats").replaceChildren(...statCards(stats));

  const errorCard = document.getElementById("job-error");
  errorCard.classList.toggle("hidden", !job.error);
  errorCard.querySelector("p").textContent = job.error || "";
  document.getElementById("curves").classList.toggle("hidden", !training);
  document.getElementById("compare-link").classList.toggle("hidden", !training);
  document.getElementById("params-text").textContent = JSON.stringify(job.params || {}, null, 2);
  showEvaluation(job);
  showNetwork(job);
}

// [[label, value], ...] -> small cards with the value large.
function statCards(stats) {
  return stats.map(([label, value]) =>
    element("div", { class: "stat" }, element("div", { class: "label" }, label), element("div", { class: "value" }, value)));
}

function showEvaluation(job) {
  const result = job.result || {};
  const section = document.getElementById("evaluation");
  if (job.status !== "succeeded" || result.accuracy == null) {
    section.classList.add("hidden");
    return;
  }
  section.classList.remove("hidden");
  const stats = [["Test accuracy", formatPercent(result.accuracy, 2)], ["Test loss", formatNumber(result.loss)]];
  if (result.macro_f1 != null) stats.push(["Macro F1", formatPercent(result.macro_f1, 2)]);
  document.getElementById("evaluation-stats").replaceChildren(...statCards(stats));
  // A training job's model is the one it produced; an evaluation job's is the one it evaluated.
  document.getElementById("model-link").replaceChildren(job.model_id
    ? element("a", { class: "button", href: `${API_ROOT}/models/${job.model_id}/download`, download: "" },
      `Download model #${job.model_id} (.npz)`)
    : "");
  document.getElementById("model-page-link").replaceChildren(job.model_id
    ? element("a", { class: "button", href: `/models/${job.model_id}` }, `Look inside model #${job.model_id}`)
    : "");
  document.getElementById("per-class").replaceChildren(perClassTable(result.per_class || []));
  const heatmap = result.confusion_matrix ? confusionHeatmap(result.confusion_matrix, classNamesOf(result)) : null;
  document.getElementById("confusion").replaceChildren(heatmap || "");
  if (heatmap && job.dataset) {
    linkMisclassifiedCells(heatmap, result, job.dataset.id, classNamesOf(result), document.getElementById("misclassified"));
  }
}

async function showNetwork(job) {
  if (networkShown || !job.network) return;
  networkShown = true;
  // Read once: job views link the summary rather than carry it.
  let summary;
  try {
    summary = await apiGet(`/networks/${job.network.id}/summary`);
  } catch (error) {
    networkShown = false;  // tried again at the next poll
    return;
  }
  document.getElementById("network-headline").textContent = `· ${summaryHeadline(summary)}`;
  document.getElementById("layer-table").replaceChildren(layerTable(summary));
}

function showMissing(error) {
  const message = document.getElementById("job-missing");
  message.textContent = `No job #${jobId}: ${error.message}`;
  message.classList.remove("hidden");
  document.getElementById("job-headline").textContent = "";
  document.getElementById("curves").classList.add("hidden");
}

poll(tick, 1000);
