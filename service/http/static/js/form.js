// Form fields with a label, a hint and a place for the API's message about that field.

import { h, newId } from "./dom.js";

/** field(key, label, control, hint): the control gets an id, and data-field=key for errors. */
export function field(key, label, control, hint) {
  const id = control.id || newId("f");
  const hintId = hint ? `${id}-hint` : null;
  const errId = `${id}-error`;
  control.id = id;
  control.dataset.field = key;
  control.setAttribute("aria-describedby", [hintId, errId].filter(Boolean).join(" "));
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", id: errId, hidden: true, "data-error-for": key }));
}

export function select(name, options, value) {
  return h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

export function text(name, attrs = {}) {
  return h("input", { type: "text", name, autocomplete: "off", spellcheck: "false", ...attrs });
}

export function checkbox(name, label, checked) {
  const id = newId("c");
  return h("div", { class: "check" }, h("input", { type: "checkbox", id, name, checked }), h("label", { for: id }, label));
}

/** A number if the text is one, else the text itself (the API names what is wrong with it). */
export function num(value) {
  const t = String(value ?? "").trim();
  if (t === "") return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
  for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
}

/** Show a message beside the field `key`; false when the form has no such field on screen. */
export function showFieldError(form, key, message) {
  const p = [...form.querySelectorAll("[data-error-for]")].find((x) => x.dataset.errorFor === key);
  const control = [...form.querySelectorAll("[data-field]")].find((x) => x.dataset.field === key);
  if (!p || !control || control.closest("[hidden]")) return false;
  p.textContent = message;
  p.hidden = false;
  control.setAttribute("aria-invalid", "true");
  return control;
}

/**
 * Which fields an API error is about: from pydantic's details (field paths), else from the start
 * of the message ("max_error 0: must be above 0", "input_shapes['x']: ...", "model ID: rank ...").
 */
export function errorFields(err, alias = {}) {
  const keyOf = (path) => {
    const [head, sub] = path;
    const key = head === "input_shapes" && sub !== undefined ? `input_shapes:${sub}` : head;
    return alias[key] || key;
  };
  if (err.details && err.details.length) {
    return err.details.map((d) => ({ key: keyOf(String(d.field).split(".")), message: `${d.field}: ${d.message}` }));
  }
  const msg = err.message.replace(/^model \S+: /, "");
  const shape = msg.match(/^input_shapes\['(.+?)'\]/);
  if (shape) return [{ key: keyOf(["input_shapes", shape[1]]), message: err.message }];
  const word = msg.match(/^([a-z_]+)/);
  return word ? [{ key: keyOf([word[1]]), message: err.message }] : [];
}

/** Put the API's error beside its fields (or at the top of the form); focus the first. */
export function showApiError(form, err, alias, formError) {
  clearErrors(form);
  let first = null;
  for (const { key, message } of errorFields(err, alias)) {
    const control = showFieldError(form, key, message);
    if (control && !first) first = control;
  }
  formError.textContent = first ? "Please correct the field marked below." : err.message;
  formError.hidden = false;
  (first || formError).focus();
}
