// A delete button that asks once more in place (no dialog box): the second press deletes.

import { h } from "./dom.js";

export function deleteButton(label, onConfirm) {
  const btn = h("button", { type: "button", class: "danger small", "aria-label": `Delete ${label}` }, "Delete");
  let armed = false;
  let timer = null;
  btn.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      btn.textContent = "Confirm delete";
      timer = setTimeout(() => { armed = false; btn.textContent = "Delete"; }, 4000);
      return;
    }
    clearTimeout(timer);
    btn.disabled = true;
    try {
      await onConfirm();
    } finally {
      btn.disabled = false;
      armed = false;
      btn.textContent = "Delete";
    }
  });
  return btn;
}
