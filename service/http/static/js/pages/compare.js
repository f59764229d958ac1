// Compare two models: queue a benchmark of A and B on the same inputs; the job's page shows the
// latency distributions and the speedup.

import { api } from "../api.js";
import { h } from "../dom.js";
import { clearErrors, field, num, select, showApiError, text } from "../form.js";

function modelSelect(name, models, value) {
  return select(name, [["", "Choose a model"], ...models.map((m) => [m.id, `${m.name} (${m.id})`])], value || "");
}

export async function render(view, ctx) {
  const [models, datasets] = await Promise.all([api("GET", "/v1/models"), api("GET", "/v1/datasets")]);
  if (ctx.signal.aborted) return;
  const wanted = ctx.params.get("dataset");
  const preset = datasets.items.some((d) => d.id === wanted) ? wanted : "";
  const formError = h("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Run benchmark");
  const form = h("form", { class: "card", novalidate: true, id: "compare-form" }, formError,
    field("model_a", "Model A (usually the original)", modelSelect("model_a", models.items, ctx.params.get("a"))),
    field("model_b", "Model B (usually the converted one)", modelSelect("model_b", models.items, ctx.params.get("b"))),
    field("dataset_id", "Inputs", select("dataset_id",
      [["", "Random inputs"], ...datasets.items.map((d) => [d.id, `${d.name} (${d.id})`])], preset),
    preset ? "Preselected: the dataset the conversion was verified on, so both models run on its samples."
      : "The result shows which inputs and batch size were used."),
    field("runs", "Runs", text("runs", { inputmode: "numeric", value: "50" }), "Timed runs per model, after 5 warm-up runs."),
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    formError.hidden = true;
    const ids = [form.elements.model_a.value, form.elements.model_b.value].filter(Boolean);
    if (!ids.length) {
      showApiError(form, { message: "model_a: choose at least one model", details: [] }, {}, formError);
      return;
    }
    const body = { model_ids: ids, runs: num(form.elements.runs.value), dataset_id: form.elements.dataset_id.value || undefined };
    submit.disabled = true;
    try {
      const job = await api("POST", "/v1/benchmarks", body);
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showApiError(form, err, { model_ids: "model_a" }, formError);
    } finally {
      submit.disabled = false;
    }
  });
  view.append(h("h1", {}, "Compare two models"),
    h("p", { class: "lead" }, "Time both models in ONNX Runtime on the same inputs: the speedup and how far their outputs differ."),
    form);
}
