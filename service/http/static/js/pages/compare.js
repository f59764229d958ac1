// Compare models: queue a benchmark of up to six models on the same inputs at one batch size; the
// job's page shows each model's latency, its speedup and output difference against the first, and
// its accuracy where the dataset has labels.

import { api } from "../api.js";
import { h } from "../dom.js";
import { clearErrors, field, num, select, showApiError, text } from "../form.js";

export const MAX_MODELS = 6;

function modelSelect(name, models, value) {
  return select(name, [["", "Choose a model"], ...models.map((m) => [m.id, `${m.name} (${m.id})`])], value || "");
}

/** The models the query names: `models=id1,id2,...`, else `a`, `b`, `c`, ... (the first is the reference). */
function wantedModels(params) {
  const listed = (params.get("models") || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (listed.length) return listed.slice(0, MAX_MODELS);
  const lettered = [];
  for (let i = 0; i < MAX_MODELS; i += 1) {
    const id = params.get(String.fromCharCode(97 + i));
    if (id) lettered.push(id);
  }
  return lettered;
}

function modelLabel(i) {
  return i === 0 ? "Model 1 (the reference, usually the original)" : `Model ${i + 1}`;
}

export async function render(view, ctx) {
  const [models, datasets] = await Promise.all([api("GET", "/v1/models"), api("GET", "/v1/datasets")]);
  if (ctx.signal.aborted) return;
  const wanted = ctx.params.get("dataset");
  const preset = datasets.items.some((d) => d.id === wanted) ? wanted : "";
  const batchParam = (ctx.params.get("batch") || "").trim();
  const formError = h("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Run benchmark");
  const list = h("div", { id: "compare-models" });
  const addBtn = h("button", { type: "button", id: "add-model" }, "Add a model");
  const addModel = (value) => {
    const i = list.children.length;
    list.append(field(`model_${i}`, modelLabel(i), modelSelect(`model_${i}`, models.items, value)));
    addBtn.disabled = list.children.length >= MAX_MODELS;
  };
  const start = wantedModels(ctx.params);
  for (const id of start.length >= 2 ? start : [...start, "", ""].slice(0, 2)) addModel(id);
  addBtn.addEventListener("click", () => {
    addModel("");
    list.lastElementChild.querySelector("select").focus();
  });
  const form = h("form", { class: "card", novalidate: true, id: "compare-form" }, formError, list,
    h("div", { class: "actions" }, addBtn,
      h("span", { class: "muted" }, `up to ${MAX_MODELS}; the others are compared against the first`)),
    field("dataset_id", "Inputs", select("dataset_id",
      [["", "Random inputs"], ...datasets.items.map((d) => [d.id, `${d.name} (${d.id})`])], preset),
    preset ? "Preselected: the dataset the conversion was verified on, so the models run on its samples "
      + "(with its labels, the result shows each model's accuracy)."
      : "The result shows which inputs and batch size were used."),
    field("batch", "Batch size", text("batch", { inputmode: "numeric", value: batchParam, placeholder: "the dataset's" }),
      batchParam ? `The conversion's result measured at batch ${batchParam}.`
        : "Samples per run (1 to 4096); empty: the dataset's first batch, or the model's own fixed batch."),
    field("runs", "Runs", text("runs", { inputmode: "numeric", value: "50" }), "Timed runs per model, after 5 warm-up runs."),
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    formError.hidden = true;
    const ids = [...list.querySelectorAll("select")].map((s) => s.value).filter(Boolean);
    if (!ids.length) {
      showApiError(form, { message: "model_0: choose at least one model", details: [] }, {}, formError);
      return;
    }
    const body = { model_ids: ids, runs: num(form.elements.runs.value), batch: num(form.elements.batch.value),
      dataset_id: form.elements.dataset_id.value || undefined };
    submit.disabled = true;
    try {
      const job = await api("POST", "/v1/benchmarks", body);
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showApiError(form, err, { model_ids: "model_0" }, formError);
    } finally {
      submit.disabled = false;
    }
  });
  view.append(h("h1", {}, "Compare models"),
    h("p", { class: "lead" }, "Time the models in ONNX Runtime on the same inputs at one batch size: each one's "
      + "speedup over the first, how far its outputs differ from the first's, and its accuracy where the dataset has labels."),
    form);
}
