// Teacher mode's forms (templates/_class_predictions.html). htmx 2 swaps no 4xx answer by default,
// but a refused prediction or reveal comes back as a fragment that says which field was wrong and
// why: for a form marked data-swap-errors, that fragment is swapped in like any other answer.
"use strict";

document.addEventListener("htmx:beforeSwap", (event) => {
  const source = event.detail.requestConfig && event.detail.requestConfig.elt;
  const status = event.detail.xhr.status;
  if (source && source.closest("[data-swap-errors]") && status >= 400 && status < 500) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
