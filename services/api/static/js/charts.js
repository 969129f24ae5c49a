// Line charts of training curves (Chart.js, served from static/vendor). Points are {x, y}; x is a
// step or an epoch, so train points (every logged step) and validation points (every epoch) share axes.
"use strict";

const PALETTE = ["#2563eb", "#ea580c", "#15803d", "#9333ea", "#b91c1c", "#0d9488", "#a16207", "#db2777"];

function curveChart(canvas, { xTitle, yTitle, yAsPercent = false, legend = true }) {
  return new Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "nearest", intersect: false },
      scales: {
        x: { type: "linear", title: { display: true, text: xTitle } },
        y: {
          title: { display: true, text: yTitle },
          ticks: yAsPercent ? { callback: (value) => `${Math.round(value * 100)}%` } : {},
          ...(yAsPercent ? { suggestedMin: 0, suggestedMax: 1 } : {}),
        },
      },
      plugins: {
        legend: { display: legend, position: "bottom", labels: { usePointStyle: true, boxHeight: 7 } },
        tooltip: {
          callbacks: {
            label: (item) => `${item.dataset.label}: ${yAsPercent ? formatPercent(item.parsed.y, 2) : Number(item.parsed.y.toPrecision(4))}`,
          },
        },
      },
    },
  });
}

// One line on a chart. `style` "train" is a thin solid line; "val" is dashed with visible points.
function addCurve(chart, label, color, style) {
  const validation = style === "val";
  chart.data.datasets.push({
    label,
    data: [],
    borderColor: color,
    backgroundColor: color,
    borderWidth: validation ? 2 : 1.5,
    borderDash: validation ? [6, 4] : [],
    pointRadius: validation ? 3 : 0,
    pointStyle: validation ? "circle" : "line",
    tension: 0,
    clip: false, // the last validation point sits on the right edge of the axis
  });
  return chart.data.datasets.length - 1;
}

function appendPoints(chart, curveIndex, points) {
  if (points.length === 0) return;
  chart.data.datasets[curveIndex].data.push(...points);
  chart.canvas.dataset.points = chart.data.datasets.reduce((sum, curve) => sum + curve.data.length, 0);
  chart.update("none");
}
