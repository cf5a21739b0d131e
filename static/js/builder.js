// The builder page: copy buttons, the promise panel's open <details>, and each fault row showing
// only the fields of its kind.
"use strict";

// Copy buttons: data-copy names the element whose text (or value) goes to the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.tagName === "INPUT" ? source.value : source.textContent;
  navigator.clipboard.writeText(text).then(() => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }, () => { button.textContent = "Select and copy by hand"; });
});

// The promise panel is replaced on every edit; keep its <details> open if they were.
const openDetails = new Set();
document.addEventListener("toggle", (event) => {
  const id = event.target.id;
  if (id) event.target.open ? openDetails.add(id) : openDetails.delete(id);
}, true);
document.addEventListener("htmx:load", () => {
  openDetails.forEach((id) => {
    const details = document.getElementById(id);
    if (details) details.open = true;
  });
});

// A fault row shows only the fields of its kind. The page marks each kind-specific field with a
// for-<kind> class per kind it belongs to (from the spec's fault kinds), so no kind is named here.
function showFieldsOfKind(row) {
  const kind = row.querySelector(".fault-kind select")?.value;
  row.querySelectorAll(".kind-specific").forEach((field) => {
    field.hidden = Boolean(kind) && !field.classList.contains(`for-${kind}`);
  });
}
document.addEventListener("change", (event) => {
  if (event.target.closest(".fault-kind")) showFieldsOfKind(event.target.closest(".fault-row"));
});
document.addEventListener("htmx:load", (event) => {
  event.target.querySelectorAll(".fault-row").forEach(showFieldsOfKind);
});
