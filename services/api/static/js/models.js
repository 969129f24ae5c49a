// Models page: every trained model, newest first, each linking to its Model page.
"use strict";

async function showModels() {
  const holder = document.getElementById("model-list");
  const page = await apiGet("/models?limit=100");
  if (!page.items.length) {
    holder.replaceChildren(element("p", { class: "empty" }, "No trained model yet: train a network first."));
    return;
  }
  holder.replaceChildren(element("table", {},
    element("thead", {}, element("tr", {}, element("th", {}, "Model"), element("th", {}, "Network"),
      element("th", {}, "Dataset"), element("th", { class: "num" }, "Test accuracy"), element("th", {}, "Trained by"))),
    element("tbody", {}, page.items.map((model) => element("tr", {},
      element("td", {}, element("a", { href: `/models/${model.id}` }, `#${model.id}`)),
      element("td", {}, model.network.name),
      element("td", {}, model.dataset.name),
      element("td", { class: "num" }, formatPercent(model.metrics && model.metrics.accuracy, 2)),
      element("td", {}, model.job_id ? element("a", { href: `/jobs/${model.job_id}` }, `job #${model.job_id}`) : "–"))))));
}

showModels();
