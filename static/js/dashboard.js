// Trend charts on the dashboard. The data comes from /dashboard/trends.json; each chart has a table
// fallback in the page, so nothing is lost without JavaScript (or when printing).
(function () {
  const charts = new WeakMap();

  function draw(canvas) {
    if (charts.has(canvas) || typeof window.Chart === "undefined") {
      return;
    }
    charts.set(canvas, null);
    fetch(canvas.dataset.trendsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => {
        const chart = new window.Chart(canvas, {
          type: "line",
          data: {
            labels: data.dates,
            datasets: data.series.map((s) => ({ label: s.label, data: s.values, spanGaps: true, tension: 0.2 })),
          },
          options: { responsive: true, aspectRatio: 3, animation: false, interaction: { mode: "index", intersect: false } },
        });
        charts.set(canvas, chart);
        canvas.dataset.drawn = "true";
      })
      .catch(() => {
        canvas.classList.add("d-none"); // the table below still shows the figures
      });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas.trend-chart[data-trends-url]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", () => drawAll(document));
  document.addEventListener("htmx:afterSettle", (event) => drawAll(event.target));
})();
