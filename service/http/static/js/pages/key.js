// The API key prompt: shown when the server needs a key and this tab has none (or a wrong one).

import { key } from "../api.js";
import { h } from "../dom.js";

export function render(view, ctx, { onKey, problem }) {
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off",
    required: true, "aria-describedby": "api-key-help" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "key-title" },
    h("h1", { id: "key-title", tabindex: "-1" }, "API key"),
    h("p", { id: "api-key-help" }, "This server needs an API key. It is kept in this tab only ",
      "(sessionStorage) and sent as a header with each request."),
    problem ? h("p", { class: "error-text", role: "alert", text: problem }) : null,
    h("div", { class: "field" }, h("label", { for: "api-key" }, "Key"), input),
    h("button", { type: "submit", class: "primary" }, "Continue"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    key.set(value);
    onKey();
  });
  view.append(form);
  input.focus();
}
