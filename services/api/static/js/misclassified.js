// Confusion-matrix cells off the diagonal link to a few of their test images: the evaluation stores
// their indices in the split, and the API serves each stored sample as a PNG.
"use strict";

function linkMisclassifiedCells(table, result, datasetId, classNames, panel) {
  const cells = new Map((result.misclassified || []).map((cell) => [`${cell.true},${cell.predicted}`, cell]));
  table.querySelectorAll("tbody tr").forEach((row, trueIndex) => {
    row.querySelectorAll("td").forEach((td, predictedIndex) => {
      const cell = cells.get(`${trueIndex},${predictedIndex}`);
      if (!cell) return;
      td.classList.add("has-examples");
      td.tabIndex = 0;
      td.setAttribute("role", "button");
      td.dataset.trueClass = trueIndex;
      td.dataset.predictedClass = predictedIndex;
      const show = () => showMisclassified(panel, cell, result.split || "test", datasetId, classNames);
      td.addEventListener("click", show);
      td.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") show(); });
    });
  });
}

function showMisclassified(panel, cell, split, datasetId, classNames) {
  const title = `${classNames[cell.true]} predicted as ${classNames[cell.predicted]}`;
  panel.replaceChildren(
    element("h3", {}, title, element("span", { class: "muted" }, ` · ${cell.indices.length} shown`)),
    element("div", { class: "misclassified-images" }, cell.indices.map((index) =>
      element("figure", {},
        element("img", { src: `${API_ROOT}/datasets/${datasetId}/images/${split}/${index}`, alt: `${split} image ${index}`,
          width: 56, height: 56 }),
        element("figcaption", {}, `#${index}`)))));
  panel.classList.remove("hidden");
}
