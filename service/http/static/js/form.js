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

/** Examples of a good value, for the fields whose placeholder gives none. */
const EXAMPLES = { rank: "8", energy: "0.9", ratio: "0.5", max_error: "0.01", max_accuracy_drop: "0.5",
  max_samples: "1024", seed: "0", threads: "4", runs: "50" };
/** Names for the API's fields that the form shows under another label (the policy's value). */
const NAMES = { rank: "Rank", energy: "Energy", ratio: "Ratio" };

/** What the page calls a field: its label, without the parenthesis ("Max output error"). */
function fieldName(form, key, apiKey) {
  if (NAMES[apiKey]) return { text: NAMES[apiKey], example: EXAMPLES[apiKey] };
  const control = [...form.querySelectorAll("[data-field]")].find((x) => x.dataset.field === key);
  const label = control ? form.querySelector(`label[for="${control.id}"]`) : null;
  const text = label ? label.textContent.replace(/\s*\(.*\)\s*$/, "").trim() : apiKey.replace(/_/g, " ");
  return { text, example: EXAMPLES[apiKey] || (control && control.placeholder) || "" };
}

const like = (example) => (example ? `, like ${example}` : "");

/** pydantic's or the converter's message about a field, in the page's own words. */
export function inWords(name, example, message) {
  const m = String(message || "");
  const n = (re) => (m.match(re) || [])[1];
  if (/valid number|finite number/i.test(m)) return `${name} must be a number${like(example)}`;
  if (/valid integer|whole number|fractional part/i.test(m)) return `${name} must be a whole number${like(example)}`;
  if (n(/greater than or equal to (\S+)/)) return `${name} must be ${n(/greater than or equal to (\S+)/)} or more`;
  if (n(/greater than (\S+)/)) return `${name} must be above ${n(/greater than (\S+)/)}`;
  if (n(/less than or equal to (\S+)/)) return `${name} must be ${n(/less than or equal to (\S+)/)} or less`;
  if (n(/less than (\S+)/)) return `${name} must be below ${n(/less than (\S+)/)}`;
  if (n(/at most (\d+) characters?/)) return `${name} must be at most ${n(/at most (\d+) characters?/)} characters`;
  if (/valid list|valid array/i.test(m)) return `${name} must be numbers separated by commas${like(example)}`;
  if (/^Input should be '/.test(m)) return `${name} must be one of ${m.replace(/^Input should be /, "")}`;
  if (/^must /.test(m)) return `${name} ${m}`;
  return `${name}: ${m}`;
}

/**
 * Which fields an API error is about, and what to say beside each: from the error's details (a
 * field path each, as pydantic's loc: "max_error", "input_shapes.x"), else from the start of the
 * message ("max_error 0: must be above 0", "input_shapes['x']: ...", "model ID: rank ...").
 */
export function errorFields(err, alias = {}, form = null) {
  const keyOf = (path) => {
    const [head, ...rest] = path;
    const key = head === "input_shapes" && rest.length ? `input_shapes:${rest.join(".")}` : head;
    return alias[key] || key;
  };
  const words = (key, apiKey, message) => {
    if (!form) return message;
    const { text, example } = fieldName(form, key, apiKey);
    return inWords(text, example, message);
  };
  if (err.details && err.details.length) {
    const seen = new Set();
    return err.details.flatMap((d) => {
      const path = String(d.field).split(".");
      const key = keyOf(path);
      if (seen.has(key)) return [];  // a union's second message about the same field
      seen.add(key);
      return [{ key, message: words(key, path[0], d.message) }];
    });
  }
  const msg = err.message.replace(/^model \S+: /, "");
  const shape = msg.match(/^input_shapes\['(.+?)'\]/);
  if (shape) return [{ key: keyOf(["input_shapes", shape[1]]), message: err.message }];
  const word = msg.match(/^([a-z_]+)(?: \S+)?: (.*)$/);
  return word ? [{ key: keyOf([word[1]]), message: words(keyOf([word[1]]), word[1], word[2]) }] : [];
}

/** Put the API's error beside its fields (or at the top of the form); focus the first. */
export function showApiError(form, err, alias, formError) {
  showErrors(form, errorFields(err, alias, form), err.message, formError);
}

/** Messages beside their fields ({key, message}); where none is on screen, `fallback` at the top. */
export function showErrors(form, errors, fallback, formError) {
  clearErrors(form);
  let first = null;
  for (const { key, message } of errors) {
    const control = showFieldError(form, key, message);
    if (control && !first) first = control;
  }
  formError.textContent = first ? "Please correct the field marked below." : fallback;
  formError.hidden = false;
  (first || formError).focus();
}
