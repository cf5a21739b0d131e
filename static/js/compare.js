// The compare form: a control is marked invalid (aria-invalid) while the live check shows errors
// for it, so a fixed field stops looking wrong before the next submit. Each error list names its
// control in data-invalid-control; the page renders the same marks for browsers without scripts.
"use strict";

function markInvalidControls(form) {
  form.querySelectorAll("[aria-invalid]").forEach((control) => control.removeAttribute("aria-invalid"));
  form.querySelectorAll("[data-invalid-control]").forEach((errors) => {
    const control = document.getElementById(errors.dataset.invalidControl);
    if (control && errors.querySelector("li")) control.setAttribute("aria-invalid", "true");
  });
}

document.addEventListener("htmx:afterSettle", (event) => {
  const form = event.target.closest && event.target.closest("#compare-form");
  if (form) markInvalidControls(form);
});
