// Draws each <canvas data-chart="ID"> with the Chart.js config in <script id="ID"> (json_script);
// the configs are built server-side (tandem/web/charts.py). A point's "name" shows on hover.
(function () {
  function draw(root) {
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      if (canvas.dataset.drawn) return;
      const config = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
      config.options = config.options || {};
      config.options.plugins = config.options.plugins || {};
      config.options.plugins.tooltip = {
        callbacks: { footer: (items) => items.map((i) => i.raw && i.raw.name).filter(Boolean).join("\n") },
      };
      new Chart(canvas, config);
      canvas.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", () => draw(document));
})();
