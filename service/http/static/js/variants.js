// A model's variants: every conversion made from it as a sortable table (what it asked for, what it
// gained, how far its outputs moved, its verdict), links to each result and "convert again with
// these settings", and a chart of their trade-off with the Pareto front marked.

import { api } from "./api.js";
import { append, clear, fmt, h, scroller } from "./dom.js";
import { tagged } from "./names.js";
import { verdictBadge } from "./pages/result.js";
import { sortableTable } from "./table.js";
import { AXES, variantsFront } from "./variants_chart.js";

const PAGE = 50;

function askedText(v) {
  const one = (a) => {
    if (a.kind === "max_error") return `error ≤ ${fmt.pct(a.value, a.value < 0.01 ? 2 : 1)}`;
    if (a.kind === "max_accuracy_drop") return `accuracy drop ≤ ${a.value} pt`;
    if (a.kind === "max_metric_drop") return `metric drop ≤ ${a.value}`;
    if (a.kind === "rank") return a.value === "full" ? "full rank" : `rank ${a.value}`;
    return `${a.kind} ${a.value}${a.default ? " (default)" : ""}`;
  };
  return v.asked.length ? v.asked.map(one).join(", ") : "—";
}

function precisionText(v) {
  if (!v.precision_chosen || v.precision_chosen === v.precision) return v.precision || "float";
  return `${v.precision} → ${v.precision_chosen}`;
}

function errorCell(v) {
  if (v.error === null || v.error === undefined) return "—";
  return h("span", { title: v.error_on === "held-out" ? "on the held-out samples" : "on the verification samples" },
    fmt.num(v.error), h("span", { class: "muted small-note" }, v.error_on === "held-out" ? " held-out" : " verif."));
}

function judged(v) {
  if (v.state === "succeeded") return verdictBadge(v.verdict);
  return h("span", { class: `badge ${v.state}`, title: v.failure || "" }, v.state);
}

function links(v, modelId) {
  const again = new URLSearchParams({ again: v.job_id });
  return h("span", { class: "row-actions" }, h("a", { href: `#/jobs/${v.job_id}`, class: "result-link" }, "Result"),
    h("a", { href: `#/models/${modelId}?${again}`, class: "again-link", "aria-label": "Convert again with these settings",
      title: "open the form below with this job's options" }, "Convert again"));
}

function variantName(v) {
  const name = v.model_id ? h("a", { href: `#/models/${v.model_id}` }, v.name || v.model_id)
    : h("span", { class: "muted" }, v.state === "succeeded" ? "no new model" : "—");
  return h("span", { class: "variant-name" }, tagged(name, v.tag));
}

function table(items, numbered, modelId) {
  const n = (v) => numbered.get(v.job_id);
  return sortableTable({
    caption: "Conversions of this model, newest first (press a heading to sort)",
    rows: items,
    rowAttrs: (v) => ({ "data-job-id": v.job_id }),
    columns: [
      { label: "#", value: n, numeric: true, cell: (v) => String(n(v)) },
      { label: "Variant", value: (v) => v.tag, cell: variantName },
      { label: "Verdict", value: (v) => (v.verdict ? v.verdict.level : v.state), cell: judged },
      { label: "Method", value: (v) => v.method, cell: (v) => v.method || "—" },
      { label: "Precision", value: precisionText, cell: precisionText },
      { label: "Asked for", value: askedText, cell: askedText },
      { label: "Multiplications", value: (v) => v.macs_ratio, numeric: true, cell: (v) => fmt.ratio(v.macs_ratio) },
      { label: "Latency (measured)", value: (v) => v.latency_ratio, numeric: true, cell: (v) => fmt.ratio(v.latency_ratio) },
      { label: "Error (rel. L2)", value: (v) => v.error, numeric: true, cell: errorCell },
      { label: "Accuracy drop", value: (v) => v.accuracy_drop, numeric: true,
        cell: (v) => (v.accuracy_drop === null || v.accuracy_drop === undefined ? "—" : `${v.accuracy_drop.toFixed(2)} pt`) },
      { label: "Size", value: (v) => v.size, numeric: true, cell: (v) => fmt.bytes(v.size) },
      { label: "", cell: (v) => links(v, modelId) },
    ],
  });
}

function axisPicker(initial, onPick) {
  const sel = h("select", { id: "variants-axis", name: "variants-axis" },
    Object.entries(AXES).map(([k, a]) => h("option", { value: k, selected: k === initial }, a.short)));
  sel.addEventListener("change", () => onPick(sel.value));
  return h("div", { class: "field inline-field" }, h("label", { for: sel.id }, "Chart's horizontal axis"), sel);
}

function draw(box, items, modelId, more) {
  const numbered = new Map(items.map((v, i) => [v.job_id, i + 1]));
  const stored = items.filter((v) => v.model_id && v.error !== null && v.error !== undefined);
  let axis = stored.length && stored.every((v) => v.latency_ratio !== null && v.latency_ratio !== undefined) ? "latency" : "macs";
  const chartBox = h("div", {});
  const redraw = () => clear(chartBox).append(variantsFront(items, numbered, axis));
  redraw();
  append(clear(box), [scroller("Variants", table(items, numbered, modelId)), more,
    stored.length ? [axisPicker(axis, (a) => { axis = a; redraw(); }), chartBox] : null]);
}

/** The variants section of a model's page (empty until the model has been converted). */
export async function variantsSection(modelId, ctx) {
  const box = h("div", { id: "variants" });
  const section = h("section", { "aria-labelledby": "variants-title" }, h("h2", { id: "variants-title" }, "Variants"), box);
  const items = [];
  async function load() {
    const page = await api("GET", `/v1/models/${modelId}/variants?limit=${PAGE}&offset=${items.length}`);
    if (ctx.signal.aborted) return;
    items.push(...page.items);
    if (!items.length) {
      clear(box).append(h("p", { class: "muted" }, "No conversions of this model yet: convert it below, and each "
        + "conversion shows here to compare."));
      return;
    }
    const more = page.items.length === PAGE ? h("button", { type: "button", onclick: () => load().catch(ctx.showError) },
      `Show older conversions (${items.length} shown)`) : null;
    draw(box, items, modelId, more);
  }
  await load();
  return section;
}
