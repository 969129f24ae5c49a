// Jobs page: every job, live. The first page of the list is polled with If-None-Match, so an
// unchanged list costs a 304; older pages are fetched on demand and not polled (they are finished).
"use strict";

const PAGE_SIZE = 50;
const jobsBody = document.querySelector("#jobs tbody");
const rowsById = new Map();
const olderIds = new Set();
const selectedForCompare = new Set();
let statusFilter = new URLSearchParams(location.search).get("status") || "";
let olderCursor = null;
let anyActive = false;

function listPath(cursor) {
  const query = new URLSearchParams({ limit: PAGE_SIZE });
  if (statusFilter) query.set("status", statusFilter);
  if (cursor) query.set("cursor", cursor);
  return `/jobs?${query}`;
}

async function refreshFirstPage() {
  const page = await apiGetIfChanged(listPath());
  if (page === null) return;
  const items = page.items || [];
  const firstPageIds = new Set(items.map((job) => job.id));
  for (const [id, row] of rowsById) {
    if (!firstPageIds.has(id) && !olderIds.has(id)) {
      row.remove();
      rowsById.delete(id);
    }
  }
  items.forEach(showJob);
  if (olderIds.size === 0) olderCursor = page.next_cursor || null;
  anyActive = items.some((job) => !isFinal(job.status));
  afterRender();
}

async function loadOlder() {
  if (!olderCursor) return;
  const page = await apiGet(listPath(olderCursor));
  for (const job of page.items || []) {
    olderIds.add(job.id);
    showJob(job);
  }
  olderCursor = page.next_cursor || null;
  afterRender();
}

function showJob(job) {
  let row = rowsById.get(job.id);
  if (!row) {
    row = buildRow(job);
    rowsById.set(job.id, row);
    insertInOrder(row, job.id);
  }
  updateRow(row, job);
}

// Newest first: rows are ordered by job id, descending.
function insertInOrder(row, id) {
  const after = [...jobsBody.rows].find((other) => Number(other.dataset.jobId) < id);
  jobsBody.insertBefore(row, after || null);
}

function buildRow(job) {
  const compareBox = element("input", {
    type: "checkbox",
    "aria-label": `Compare job ${job.id}`,
    onchange: (event) => {
      if (event.target.checked) selectedForCompare.add(job.id);
      else selectedForCompare.delete(job.id);
      afterRender();
    },
  });
  return element("tr", { dataset: { jobId: job.id } },
    element("td", {}, compareBox),
    element("td", {}, element("a", { href: `/jobs/${job.id}` }, `#${job.id}`), " ", element("span", { class: "muted" }, job.kind)),
    element("td", { class: "network" }),
    element("td", { class: "dataset" }),
    element("td", { class: "status-cell" }),
    element("td", {}, progressBar(job)),
    element("td", { class: "num loss" }),
    element("td", { class: "num accuracy" }),
    element("td", { class: "num speed" }),
    element("td", { class: "num test-accuracy" }),
    element("td", { class: "created muted" }),
    element("td", { class: "actions" }));
}

function updateRow(row, job) {
  const metrics = job.latest_metrics || {};
  row.dataset.status = job.status;
  row.querySelector(".network").textContent = networkLabel(job);
  row.querySelector(".dataset").textContent = datasetLabel(job);
  row.querySelector(".status-cell").replaceChildren(statusBadge(job.status));
  updateProgressBar(row.querySelector(".progress-cell"), job);
  row.querySelector(".loss").textContent = formatNumber(metrics.loss);
  row.querySelector(".accuracy").textContent = formatPercent(metrics.accuracy);
  row.querySelector(".speed").textContent = metrics.images_per_second ? formatCount(Math.round(metrics.images_per_second)) : "–";
  updateTestAccuracy(row.querySelector(".test-accuracy"), job.result_summary);
  row.querySelector(".created").textContent = formatTime(job.timings?.created_at);
  // Rebuilt only when the status changes, so a click on Cancel is not undone by the next poll.
  const actionsState = `${job.status}:${Boolean(job.cancel_requested)}`;
  if (row.dataset.actionsState !== actionsState) {
    row.dataset.actionsState = actionsState;
    row.querySelector(".actions").replaceChildren(isFinal(job.status) ? "" : cancelButton(job, refreshFirstPage));
  }
}

// Blank until the job has a result; written as the Job page writes its evaluation accuracy.
function updateTestAccuracy(cell, summary) {
  cell.textContent = summary ? formatPercent(summary.accuracy, 2) : "";
  if (summary && summary.split && summary.split !== "test") cell.title = `Scored on the ${summary.split} split`;
  else cell.removeAttribute("title");
}

function afterRender() {
  document.getElementById("jobs-empty").classList.toggle("hidden", rowsById.size > 0);
  document.getElementById("older").classList.toggle("hidden", !olderCursor);
  document.getElementById("compare-selected").disabled = selectedForCompare.size < 2;
}

function chooseStatus(value) {
  statusFilter = value;
  const query = value ? `?status=${encodeURIComponent(value)}` : "";
  history.replaceState(null, "", location.pathname + query);
  rowsById.clear();
  olderIds.clear();
  olderCursor = null;
  jobsBody.replaceChildren();
  forgetLastAnswer(listPath());
  refreshFirstPage();
}

for (const radio of document.querySelectorAll("#status-filter input")) {
  radio.checked = radio.value === statusFilter;
  radio.addEventListener("change", () => chooseStatus(radio.value));
}
document.getElementById("older").addEventListener("click", loadOlder);
document.getElementById("compare-selected").addEventListener("click", () => {
  location.href = `/compare?jobs=${[...selectedForCompare].sort((a, b) => a - b).join(",")}`;
});

poll(refreshFirstPage, () => (anyActive ? 1000 : 3000));
