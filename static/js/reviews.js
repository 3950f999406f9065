// Access review pages: a print button (no inline handlers under the CSP). Pages work without it.
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("[data-print]");
  if (button) {
    window.print();
  }
});
