/* The book's own script (loaded by hsct_analysis.sphinx_ext).
   Printing a page, or saving it as PDF to forward it, shows the outputs folded under "Show code cell outputs"
   (a folded <details> prints folded); they fold again afterwards. */
window.addEventListener("beforeprint", () => {
  document.querySelectorAll("details.above-output:not([open])").forEach((folded) => {
    folded.open = true;
    folded.dataset.hsctPrinting = "1";
  });
});
window.addEventListener("afterprint", () => {
  document.querySelectorAll("details[data-hsct-printing]").forEach((opened) => {
    opened.open = false;
    delete opened.dataset.hsctPrinting;
  });
});
