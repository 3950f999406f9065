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
// htmx errors are shown where the person is looking: next to the form or link that sent the request,
// with the server's own reason. Refusals that come back as a fragment (400/403/409, see the
// htmx-config meta in base.html) are swapped in place by htmx and need nothing here; a whole page
// (a 403/409 page, a 500) is never swapped into a panel: its message is lifted out instead.
function serverReason(xhr) {
  const status = xhr.status;
  const fallback = status === 403 ? "You are not allowed to do that."
    : status >= 500 ? `Something went wrong on the server (${status}). What you typed is kept; try again.`
    : `The server refused this (${status}).`;
  const type = xhr.getResponseHeader("Content-Type") || "";
  if (type.includes("json")) {
    try {
      const body = JSON.parse(xhr.responseText);
      return body.detail || Object.values(body).flat().join(" ") || fallback;
    } catch (e) { return fallback; }
  }
  if (!type.includes("html") || status >= 500) return fallback;
  const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
  const scope = doc.querySelector("main") || doc.body;
  const found = scope && scope.querySelector("[role=alert], .empty-state p, .invalid-feedback, p");
  const text = found ? found.textContent.trim() : "";
  return text || fallback;
}
function inlineErrorAnchor(elt) {
  return (elt && elt.closest && elt.closest("form")) || elt;
}
function showInlineError(elt, message) {
  const anchor = inlineErrorAnchor(elt);
  if (!anchor || !anchor.isConnected) return;
  let box = anchor.tagName === "FORM" ? anchor.querySelector(":scope > .htmx-inline-error")
    : (anchor.nextElementSibling && anchor.nextElementSibling.classList.contains("htmx-inline-error") ? anchor.nextElementSibling : null);
  if (!box) {
    box = document.createElement("div");
    box.className = "alert alert-danger small py-2 mt-2 mb-0 htmx-inline-error";
    box.setAttribute("role", "alert");
    box.dataset.testid = "inline-error";
    if (anchor.tagName === "FORM") anchor.appendChild(box); else anchor.insertAdjacentElement("afterend", box);
  }
  box.textContent = message;
}
document.addEventListener("htmx:beforeRequest", (event) => {
  const anchor = inlineErrorAnchor(event.detail.elt);
  if (!anchor) return;
  const box = anchor.tagName === "FORM" ? anchor.querySelector(":scope > .htmx-inline-error") : anchor.nextElementSibling;
  if (box && box.classList.contains("htmx-inline-error")) box.remove();
});
document.addEventListener("htmx:beforeSwap", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.status < 400) return;
  const wholePage = /<html[\s>]/i.test(xhr.responseText.slice(0, 2000));
  if (event.detail.shouldSwap && !wholePage) return; // a fragment that carries its own message
  event.detail.shouldSwap = false;
  event.detail.isError = false; // shown here, once
  showInlineError(event.detail.requestConfig ? event.detail.requestConfig.elt : event.target, serverReason(xhr));
});
document.addEventListener("htmx:sendError", (event) => {
  showInlineError(event.detail.elt, "The server could not be reached. What you typed is kept; try again.");
});
// "Go back" links: a real href for no-JS; with JS, the previous page (no javascript: URLs under the CSP).
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[data-history-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
// Section tabs (the identity page): one group of sections at a time, the tab named in the address
// (#grants-card, #history-card, ...) so a link opens it; arrow keys move between tabs. Without
// JavaScript the tabs are in-page links and every section shows.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-section-tabs]").forEach((list) => {
    const links = [...list.querySelectorAll("[data-tab-link]")];
    const sections = [...document.querySelectorAll("[data-tab]")];
    if (!links.length) return;
    list.setAttribute("role", "tablist");
    const show = (key) => {
      links.forEach((link) => {
        const on = link.dataset.tabLink === key;
        link.classList.toggle("active", on);
        link.setAttribute("aria-selected", on ? "true" : "false");
        link.setAttribute("tabindex", on ? "0" : "-1");
        if (on) link.removeAttribute("aria-current");
      });
      sections.forEach((section) => { section.hidden = section.dataset.tab !== key; });
    };
    const fromHash = () => {
      const id = decodeURIComponent(window.location.hash.slice(1));
      const target = id && document.getElementById(id);
      const section = target && target.closest("[data-tab]");
      return section ? section.dataset.tab : null;
    };
    links.forEach((link, index) => {
      link.setAttribute("role", "tab");
      link.addEventListener("click", (event) => {
        event.preventDefault();
        show(link.dataset.tabLink);
        history.replaceState(null, "", link.getAttribute("href"));
      });
      link.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        const next = links[(index + step + links.length) % links.length];
        next.focus();
        next.click();
      });
    });
    show(fromHash() || links[0].dataset.tabLink);
    window.addEventListener("hashchange", () => { const key = fromHash(); if (key) show(key); });
  });
});
