// Small progressive enhancements. Every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  document.body.setAttribute("hx-indicator", "#htmx-indicator");
});
// Forms marked data-confirm ask before submitting (e.g. decommission).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
// Filter forms with hx-get update the results and the address bar; keep focus where it was.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const box = document.getElementById("htmx-error");
  if (box) {
    box.textContent = status === 403 ? "You are not allowed to do that." : `The server answered ${status}. Please retry.`;
    box.classList.remove("d-none");
  }
});
// "Go back" links: a real href for no-JS; with JS, the previous page (no javascript: URLs under the CSP).
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[data-history-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
