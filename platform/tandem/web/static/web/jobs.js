// Live job progress: poll the JSON API for every row marked data-job, until the job ends.
(function () {
  const done = new Set(["succeeded", "failed", "cancelled"]);
  function poll(row) {
    fetch(`/api/jobs/${row.dataset.job}/`, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((job) => {
        const p = job.progress || {};
        row.querySelector(".status").textContent = job.status;
        row.querySelector(".progress").textContent =
          p.total ? `${p.done} / ${p.total} (${Math.round((100 * p.done) / p.total)}%)` : `${p.done || 0}`;
        const bar = row.querySelector("progress");
        if (bar && p.total) { bar.max = p.total; bar.value = p.done; }
        row.querySelector(".error").textContent = job.error || "";
        if (!done.has(job.status)) {
          setTimeout(() => poll(row), 1000);
        } else {
          const cancel = row.querySelector("form[data-cancel]");
          if (cancel) cancel.remove();
          // The pipeline counts above were rendered before the job ended: show the new ones.
          if (row.dataset.status !== job.status && job.status === "succeeded") {
            row.dataset.status = job.status;
            setTimeout(() => window.location.reload(), 500);
          }
        }
      })
      .catch(() => setTimeout(() => poll(row), 3000));
  }
  document.querySelectorAll("[data-job]").forEach((row) => {
    if (!done.has(row.dataset.status)) poll(row);
  });
  document.querySelectorAll("form[data-cancel]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      fetch(form.action, { method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value } });
    });
  });
})();
