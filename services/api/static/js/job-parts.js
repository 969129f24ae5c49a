// Pieces of a job shown on several pages: status badge, progress bar, names, cancel button.
"use strict";

const FINAL_STATES = ["succeeded", "failed", "cancelled"];

function isFinal(status) {
  return FINAL_STATES.includes(status);
}

function statusBadge(status) {
  return element("span", { class: `status status-${status}`, "data-status": status }, status);
}

// Progress bar with its caption: "epoch 2/5 · step 300/750 · 40% · ETA 1m 12s".
function progressBar(job) {
  const bar = element("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 },
    element("div", { class: "progress-fill" }));
  const caption = element("div", { class: "progress-caption" });
  const wrapper = element("div", { class: "progress-cell" }, bar, caption);
  updateProgressBar(wrapper, job);
  return wrapper;
}

function updateProgressBar(wrapper, job) {
  const progress = job.progress || {};
  const fraction = job.status === "succeeded" ? 1 : Math.max(0, Math.min(1, progress.fraction || 0));
  const percent = Math.round(fraction * 1000) / 10;
  const bar = wrapper.querySelector(".progress");
  bar.setAttribute("aria-valuenow", percent);
  bar.dataset.status = job.status;
  wrapper.querySelector(".progress-fill").style.width = `${percent}%`;
  const parts = [];
  if (progress.epochs) parts.push(`epoch ${progress.epoch || 0}/${progress.epochs}`);
  if (progress.steps) parts.push(`step ${progress.step || 0}/${progress.steps}`);
  parts.push(`${percent}%`);
  if (job.status === "running" && progress.eta_seconds != null) parts.push(`ETA ${formatDuration(progress.eta_seconds)}`);
  wrapper.querySelector(".progress-caption").textContent = parts.join(" · ");
}

function networkLabel(job) {
  return job.network ? job.network.name : "–";
}

function datasetLabel(job) {
  return job.dataset ? job.dataset.name : "–";
}

// Cancel asks the API; the worker stops within a step or two, and polling shows the new status.
function cancelButton(job, afterRequest) {
  const requested = Boolean(job.cancel_requested);
  const button = element("button", { type: "button", class: "danger small", disabled: requested },
    requested ? "Cancelling…" : "Cancel");
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Cancelling…";
    try {
      await apiSend("POST", `/jobs/${job.id}/cancel`);
      if (afterRequest) afterRequest();
    } catch (error) {
      button.disabled = false;
      button.textContent = "Cancel";
      button.title = error.message;
    }
  });
  return button;
}
