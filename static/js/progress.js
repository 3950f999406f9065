// Work that runs as one transaction inside the request (an import's apply, a campaign's launch)
// cannot report midway. On submit, a form with data-progress-what shows a progress bar: a
// determinate estimate when data-progress-seconds is known (and labelled as an estimate), else an
// indeterminate bar with data-progress-note saying why (issue 22 item 11).
(function () {
  "use strict";
  function left(seconds) {
    if (seconds < 60) return "about " + Math.max(1, Math.ceil(seconds)) + " s left";
    return "about " + Math.ceil(seconds / 60) + " min left";
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.matches || !form.matches("form[data-progress-what]")) return;
    if (form.querySelector("[data-testid=progress]")) return;
    var what = form.dataset.progressWhat;
    var note = form.dataset.progressNote || "";
    var total = parseFloat(form.dataset.progressSeconds || "");
    var box = document.createElement("div");
    box.className = "steward-progress w-100 mt-2";
    box.setAttribute("data-testid", "progress");
    var bar = document.createElement("progress");
    bar.className = "w-100";
    bar.setAttribute("aria-label", what + " progress");
    var label = document.createElement("div");
    label.className = "small text-secondary";
    label.setAttribute("data-testid", "progress-label");
    label.setAttribute("aria-live", "polite");
    box.appendChild(bar);
    box.appendChild(label);
    form.appendChild(box);
    var start = Date.now();
    function tick() {
      var text;
      if (total > 0) {
        var elapsed = (Date.now() - start) / 1000;
        var percent = Math.min(95, Math.floor((elapsed * 100) / total));
        bar.max = 100;
        bar.value = percent;
        box.setAttribute("data-percent", String(percent));
        text = "≈ " + percent + " % · " + (elapsed < total ? left(total - elapsed) : "taking longer than estimated");
      } else {
        text = what + " in progress";
      }
      label.textContent = text + (note ? " (" + note + ")" : "");
      bar.setAttribute("aria-valuetext", label.textContent);
    }
    tick();
    window.setInterval(tick, 500);
  });
})();
