// The conversion form: method, rank policy or auto mode's budget, which layers, input shapes for
// symbolic dims, and a dataset. The API checks it before queueing; its message goes beside the field.

import { api } from "../api.js";
import { h } from "../dom.js";
import { checkbox, clearErrors, field, num, select, showApiError, showErrors, text } from "../form.js";
import { dropzone } from "../upload.js";

const POLICIES = [
  ["", "Default (ratio 0.5)"],
  ["rank", "Rank: terms kept per layer"],
  ["energy", "Energy: fraction of the weight's energy kept"],
  ["ratio", "Ratio: at most this × the multiplications"],
];

/** Inputs with a symbolic (or unknown) dim: these may need a fixed shape. */
function symbolicInputs(model) {
  return model.inputs.filter((i) => !i.shape || i.shape.some((d) => typeof d !== "number"));
}

function methodPart() {
  return field("method", "Method", select("method", [
    ["auto", "Auto: pick per layer within a budget (measures latency)"],
    ["depthwise", "Depthwise + pointwise"],
    ["spatial", "Spatially separable (k×1 then 1×k)"],
    ["none", "None: keep every Conv (for int8 alone)"]], "auto"),
  "Auto mode tries both methods at several ranks on each layer and keeps what fits the budget.");
}

function precisionPart() {
  return field("precision", "Precision", select("precision", [
    ["float", "Float: as the model is"],
    ["auto", "Auto: int8 per layer within the budget, only where it measures faster"],
    ["int8", "int8: every layer ONNX Runtime can run in int8"]], "float"),
  "int8 is calibrated on the dataset; auto keeps layers float where int8 would break the budget.");
}

function policyPart() {
  const value = text("policy_value", { inputmode: "decimal" });
  return h("fieldset", { class: "group", "data-for": "fixed" }, h("legend", {}, "Rank policy"),
    field("policy", "Policy", select("policy", POLICIES, "")),
    field("policy_value", "Value", value, "A whole number or 'full' for rank; 0 to 1 for energy; above 0 for ratio."));
}

function budgetPart() {
  return h("fieldset", { class: "group", "data-for": "auto" }, h("legend", {}, "Budget (auto method or precision)"),
    field("max_error", "Max output error (relative L2)", text("max_error", { inputmode: "decimal", placeholder: "0.01" }),
      "Default 0.01 when no accuracy budget is given."),
    field("max_accuracy_drop", "Max accuracy drop (percentage points)",
      text("max_accuracy_drop", { inputmode: "decimal", placeholder: "e.g. 0.5" }),
      "Needs a dataset with 'labels'."));
}

function layersPart(model) {
  const shapes = symbolicInputs(model).map((i) => field(`input_shapes:${i.name}`, `Shape of input '${i.name}'`,
    text(`shape-${i.name}`, { placeholder: i.shape ? i.shape.map((d) => (typeof d === "number" ? d : 1)).join(", ") : "1, 3, 224, 224" }),
    `Symbolic now: ${i.shape ? `[${i.shape.map((d) => (typeof d === "number" ? d : "?")).join(", ")}]` : "unknown"}. `
    + "Optional: numbers separated by commas."));
  return h("fieldset", { class: "group" }, h("legend", {}, "Layers and inputs"),
    field("include", "Include (regex)", text("include", { placeholder: "e.g. conv[2-5]" }), "Only Convs whose name matches."),
    field("exclude", "Exclude (regex)", text("exclude"), "Skip Convs whose name matches."),
    shapes);
}

/** Does the dataset hold an array for each of the model's inputs (and nothing else but 'labels'),
 * each of the input's rank, with the same size on every dim the model fixes past the batch? */
export function fitsModel(dataset, model) {
  const arrays = new Map((dataset.arrays || []).filter((a) => a.name !== "labels").map((a) => [a.name, a.shape]));
  if (arrays.size !== model.inputs.length) return false;
  return model.inputs.every((i) => {
    const shape = arrays.get(i.name);
    if (!shape) return false;
    if (!i.shape) return true;
    return shape.length === i.shape.length && i.shape.every((d, k) => k === 0 || typeof d !== "number" || d === shape[k]);
  });
}

function datasetPart(datasets, model) {
  const fitting = datasets.filter((d) => fitsModel(d, model));
  const label = (d) => `${d.name} (${d.id})${fitting.includes(d) ? "" : ": does not fit this model's inputs"}`;
  const sel = select("dataset_id", [["", "None: random inputs"], ...datasets.map((d) => [d.id, label(d)])], "");
  if (fitting.length === 1) sel.value = fitting[0].id;
  const zone = dropzone({ title: "Or upload an .npz", accept: ".npz", path: "/v1/datasets", name: "convert-dataset-file",
    onUploaded: (d) => {
      if (![...sel.options].some((o) => o.value === d.id)) sel.append(h("option", { value: d.id }, `${d.name} (${d.id})`));
      sel.value = d.id;
    } });
  return h("fieldset", { class: "group" }, h("legend", {}, "Data"),
    field("dataset_id", "Dataset", sel, "Used to verify the result, and by auto mode to measure errors and accuracy."),
    zone, checkbox("verify", "Verify the converted model in ONNX Runtime", true),
    checkbox("force", "Force: rewrite layers even where it does not pay", false),
    h("details", {}, h("summary", {}, "More options"),
      field("max_samples", "Max samples", text("max_samples", { inputmode: "numeric", placeholder: "1024" }),
        "Verification and auto mode use at most this many of the dataset's samples."),
      field("seed", "Seed", text("seed", { inputmode: "numeric", placeholder: "0" })),
      field("threads", "Threads", text("threads", { inputmode: "numeric", placeholder: "all" }))));
}

function shapeValue(raw) {
  const t = raw.trim();
  if (!t) return undefined;
  const dims = t.split(/[\s,x×]+/).filter(Boolean).map(Number);
  return dims.every(Number.isInteger) ? dims : t;
}

const dimsText = (dims) => `[${dims.map((d) => (typeof d === "number" ? d : "?")).join(", ")}]`;

/** What is wrong with a shape typed for `input` (null: nothing): its numbers, its rank and fixed
 * dims against the model's, and each sample's dims against the dataset's array of that name. */
export function shapeProblem(dims, input, dataset) {
  const name = `Shape of input '${input.name}'`;
  if (typeof dims === "string" || dims.some((d) => d < 1)) {
    return `${name} must be whole numbers above 0 separated by commas, like 1, 3, 224, 224`;
  }
  if (input.shape && dims.length !== input.shape.length) {
    return `${name} has ${dims.length} dims, but the model's input has ${input.shape.length}: ${dimsText(input.shape)}`;
  }
  const fixed = (input.shape || []).findIndex((d, k) => typeof d === "number" && d !== dims[k]);
  if (fixed >= 0) {
    return `${name} does not fit the model: dim ${fixed} is fixed to ${input.shape[fixed]} there `
      + `(the model takes ${dimsText(input.shape)})`;
  }
  const array = dataset && (dataset.arrays || []).find((a) => a.name === input.name);
  if (array && (array.shape.length !== dims.length || array.shape.some((d, k) => k > 0 && d !== dims[k]))) {
    return `${name} does not fit the dataset ${dataset.name}: its '${input.name}' is ${dimsText(array.shape)}, `
      + `so each sample is ${array.shape.slice(1).join("×") || "a scalar"}`;
  }
  return null;
}

/** Problems the page can see before asking the service: shapes that fit neither the model nor the data. */
function localErrors(form, model, datasets) {
  const dataset = datasets.find((d) => d.id === form.elements.dataset_id.value);
  return symbolicInputs(model).flatMap((i) => {
    const dims = shapeValue(form.elements[`shape-${i.name}`].value);
    const problem = dims === undefined ? null : shapeProblem(dims, i, dataset);
    return problem ? [{ key: `input_shapes:${i.name}`, message: problem }] : [];
  });
}

/** Fill the form with a job's options (edit and retry, convert again): what the reader sent, not
 * the defaults, so the defaults keep their placeholders. */
export function fillForm(form, o, datasetId) {
  const set = (name, value) => {
    const el = form.elements[name];
    if (el && value !== null && value !== undefined) el.value = String(value);
  };
  set("method", o.method);
  set("precision", o.precision);
  const budgeted = o.method === "auto" || o.precision === "auto";
  if (budgeted && !(o.max_error === 0.01 && o.max_accuracy_drop === null)) set("max_error", o.max_error);
  if (budgeted) set("max_accuracy_drop", o.max_accuracy_drop);
  const policy = ["rank", "energy", "ratio"].find((k) => o[k] !== null && o[k] !== undefined);
  set("policy", policy || "");
  if (policy) set("policy_value", o[policy]);
  set("include", o.include);
  set("exclude", o.exclude);
  if (o.max_samples !== 1024) set("max_samples", o.max_samples);
  if (o.seed !== 0) set("seed", o.seed);
  set("threads", o.threads);
  for (const [name, dims] of Object.entries(o.input_shapes || {})) set(`shape-${name}`, dims.join(", "));
  const sel = form.elements.dataset_id;
  sel.value = datasetId && [...sel.options].some((x) => x.value === datasetId) ? datasetId : "";
  form.elements.verify.checked = o.verify !== false;
  form.elements.force.checked = Boolean(o.force);
  const more = form.querySelector("details");
  if (more && ["max_samples", "seed", "threads"].some((k) => form.elements[k].value)) more.open = true;
  syncMethod(form);
}

/** A job's options in the form (edit and retry). */
export function fillFrom(form, model, job) {
  fillForm(form, (job.params || {}).options || {}, (job.params || {}).dataset_id);
}

/** The job named by `?retry=ID` in the page's address, if it converted this model. */
async function retryOf(model) {
  const id = new URLSearchParams(location.hash.split("?")[1] || "").get("retry");
  if (!id) return null;
  try {
    const job = await api("GET", `/v1/jobs/${encodeURIComponent(id)}`);
    return job.kind === "conversion" && (job.params || {}).model_id === model.id ? job : null;
  } catch {
    return null;  // gone: the form keeps its defaults
  }
}

/** The request body from the form; only what the reader filled in. */
export function requestBody(form, model) {
  const v = (name) => form.elements[name].value;
  const body = { method: v("method"), verify: form.elements.verify.checked, force: form.elements.force.checked };
  body.precision = v("precision");
  if (body.method === "auto" || body.precision === "auto") {
    body.max_error = num(v("max_error"));
    body.max_accuracy_drop = num(v("max_accuracy_drop"));
  }
  if (body.method !== "auto" && body.method !== "none" && v("policy")) {
    const raw = v("policy_value").trim();
    body[v("policy")] = v("policy") === "rank" && raw === "full" ? "full" : num(raw);
  }
  for (const name of ["include", "exclude"]) if (v(name).trim()) body[name] = v(name).trim();
  body.max_samples = num(v("max_samples"));
  body.seed = num(v("seed"));
  body.threads = num(v("threads"));
  body.dataset_id = v("dataset_id") || undefined;
  const shapes = {};
  for (const i of symbolicInputs(model)) {
    const dims = shapeValue(v(`shape-${i.name}`));
    if (dims !== undefined) shapes[i.name] = dims;
  }
  if (Object.keys(shapes).length) body.input_shapes = shapes;
  return body;
}

function syncMethod(form) {
  const method = form.elements.method.value;
  const budgeted = method === "auto" || form.elements.precision.value === "auto";
  for (const fs of form.querySelectorAll("fieldset[data-for]")) {
    const show = fs.dataset.for === "auto" ? budgeted : !["auto", "none"].includes(method);
    fs.hidden = !show;
    fs.disabled = !show;
  }
  const policy = form.elements.policy.value;
  form.elements.policy_value.disabled = !policy;
}


/** The form; ``preset`` ({options, dataset_id}) fills it in with an earlier conversion's settings. */
export function convertForm(model, datasets, preset) {
  const formError = h("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Convert");
  const form = h("form", { class: "card convert", novalidate: true, id: "convert-form" },
    formError, methodPart(), precisionPart(), policyPart(), budgetPart(), layersPart(model), datasetPart(datasets, model),
    h("div", { class: "actions" }, submit));
  form.addEventListener("change", () => syncMethod(form));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    formError.hidden = true;
    const local = localErrors(form, model, datasets);
    if (local.length) {
      showErrors(form, local, local[0].message, formError);
      return;
    }
    submit.disabled = true;
    submit.textContent = "Checking…";
    try {
      const job = await api("POST", `/v1/models/${model.id}/conversions`, requestBody(form, model));
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showApiError(form, err, { rank: "policy_value", energy: "policy_value", ratio: "policy_value" }, formError);
    } finally {
      submit.disabled = false;
      submit.textContent = "Convert";
    }
  });
  syncMethod(form);
  if (preset) fillForm(form, preset.options || {}, preset.dataset_id);
  retryOf(model).then((job) => {
    if (!job) return;
    fillFrom(form, model, job);
    form.prepend(h("p", { class: "retry-note", id: "retry-note" }, "The options of ",
      h("a", { href: `#/jobs/${job.id}` }, job.id), ", which failed: change what caused it, then convert again."));
    form.scrollIntoView({ block: "start" });
  });
  return form;
}
