// Tenantry admin UI: the little that needs a script. Every page works without it.
"use strict";

// Copy buttons: <button data-copy="element-id">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch {
    // No clipboard (plain http, old browser): select the text so Ctrl+C copies it.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected — press Ctrl+C";
  }
});

// Confirmations: <form data-confirm="question">.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// Typed confirmation: <form data-typed-confirm="slug"> enables its button once the
// slug is typed. The server checks it again.
for (const form of document.querySelectorAll("form[data-typed-confirm]")) {
  const input = form.querySelector("input[name=confirm]");
  const button = form.querySelector("button[type=submit]");
  const sync = () => { button.disabled = input.value.trim() !== form.dataset.typedConfirm; };
  input.addEventListener("input", sync);
  sync();
}
