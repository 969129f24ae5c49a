// A finished job's evaluation: per-class precision, recall and F1, and the confusion matrix as a heat map.
"use strict";

function perClassTable(perClass) {
  return element("table", { class: "per-class" },
    element("thead", {}, element("tr", {},
      element("th", {}, "Class"), element("th", { class: "num" }, "Precision"), element("th", { class: "num" }, "Recall"),
      element("th", { class: "num" }, "F1"), element("th", { class: "num" }, "Support"))),
    element("tbody", {}, perClass.map((row) => element("tr", {},
      element("td", {}, row.name),
      element("td", { class: "num" }, formatPercent(row.precision)),
      element("td", { class: "num" }, formatPercent(row.recall)),
      element("td", { class: "num" }, formatPercent(row.f1)),
      element("td", { class: "num" }, formatCount(row.support))))));
}

// Each cell is coloured by its share of the row (of the true class), so a weak class stands out
// however many samples it has: blue on the diagonal (right), red off it (confused).
function confusionHeatmap(matrix, classNames) {
  const header = element("tr", {}, element("th", { class: "axis" }, "true ↓ / predicted →"),
    classNames.map((name) => element("th", { scope: "col" }, element("span", {}, name))));
  const rows = matrix.map((counts, trueIndex) => {
    const rowTotal = counts.reduce((sum, count) => sum + count, 0);
    return element("tr", {},
      element("th", { scope: "row" }, classNames[trueIndex]),
      counts.map((count, predictedIndex) => {
        const share = rowTotal > 0 ? count / rowTotal : 0;
        const hue = trueIndex === predictedIndex ? "37, 99, 235" : "220, 38, 38";
        return element("td", {
          style: `background: rgba(${hue}, ${Math.max(share, 0.03).toFixed(3)}); color: ${share > 0.5 ? "#fff" : "inherit"}`,
          title: `true ${classNames[trueIndex]}, predicted ${classNames[predictedIndex]}: ${count} (${formatPercent(share)} of ${classNames[trueIndex]})`,
        }, count);
      }));
  });
  return element("table", { class: "heatmap" }, element("thead", {}, header), element("tbody", {}, rows));
}

function classNamesOf(result) {
  if (Array.isArray(result.per_class)) return result.per_class.map((row) => row.name);
  return (result.confusion_matrix || []).map((_, index) => String(index));
}
