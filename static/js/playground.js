// Every page. The Content-Security-Policy runs no inline script or event attribute, so what the
// pages do in the browser lives here and in the page's own file (builder.js).
"use strict";

// A share link (a read-only field marked data-select-on-click) is selected whole on a click,
// ready to copy.
document.addEventListener("click", (event) => {
  const field = event.target.closest("input[data-select-on-click]");
  if (field) field.select();
});
