// A model's page: what it is, the conversions made from it (its variants), its Conv layers
// (sortable, with their share of the multiplications), a download button, and the conversion form
// (filled in from an earlier conversion with #/models/ID?again=JOB).

import { api, download } from "../api.js";
import { shareBars } from "../charts.js";
import { fmt, h, scroller, stat } from "../dom.js";
import { tagged } from "../names.js";
import { sortableTable } from "../table.js";
import { variantsSection } from "../variants.js";
import { convertForm } from "./convert.js";

function eligibility(layer) {
  if (layer.eligible && layer.eligible.length) return h("span", { class: "ok" }, `eligible: ${layer.eligible.join(", ")}`);
  const reasons = Object.entries(layer.reasons || {}).map(([m, r]) => `${m}: ${r}`);
  return h("span", { class: "no" }, `not eligible${reasons.length ? ` (${reasons.join("; ")})` : ""}`);
}

function layerTable(layers, totalMacs) {
  const share = (l) => (totalMacs && l.macs !== null ? l.macs / totalMacs : null);
  const pair = (v) => (v ? v.join("×") : "—");
  return sortableTable({
    caption: "Conv layers (press a heading to sort)",
    rows: layers,
    columns: [
      { label: "#", value: (l) => layers.indexOf(l), numeric: true, cell: (l) => String(layers.indexOf(l) + 1) },
      { label: "Name", value: (l) => l.name, cell: (l) => h("code", {}, l.name) },
      { label: "Weight shape", value: (l) => (l.weight_shape || []).reduce((a, b) => a * b, 1), numeric: true,
        cell: (l) => fmt.shape(l.weight_shape) },
      { label: "Kernel", value: (l) => pair(l.kernel), cell: (l) => pair(l.kernel) },
      { label: "Stride", value: (l) => pair(l.strides), cell: (l) => pair(l.strides) },
      { label: "Groups", value: (l) => l.group, numeric: true, cell: (l) => String(l.group) },
      { label: "Input", value: undefined, cell: (l) => fmt.shape(l.input_shape) },
      { label: "Output", value: undefined, cell: (l) => fmt.shape(l.output_shape) },
      { label: "Multiplications", value: (l) => l.macs, numeric: true, cell: (l) => fmt.int(l.macs) },
      { label: "Share", value: share, numeric: true, cell: (l) => shareCell(share(l)) },
      { label: "Eligible", value: (l) => (l.eligible || []).length, cell: eligibility },
    ],
  });
}

function shareCell(x) {
  if (x === null) return "—";
  const bar = h("span", { class: "mini-bar", "aria-hidden": "true" });
  bar.style.width = `${Math.max(x * 100, 1)}%`;
  return h("span", { class: "share" }, h("span", { class: "mini-track" }, bar), fmt.pct(x));
}

function summary(m) {
  const a = m.analysis;
  const io = (list) => list.map((x) => `${x.name} ${fmt.shape(x.shape)} ${x.dtype || ""}`).join(", ");
  return h("div", {},
    h("div", { class: "stats" },
      stat("File size", fmt.bytes(m.size)), stat("Opset", String(m.opset ?? "—")),
      stat("Convs", String(a.convs ?? "—"), `${a.eligible_convs ?? 0} eligible`
        + (a.eligible_stems ? `, ${a.eligible_stems} kept as the stem by auto mode` : "")),
      stat("Multiplications (Convs)", fmt.macs(a.conv_macs), `${fmt.int(a.conv_macs)} per sample`),
      stat("Parameters", fmt.int(a.params))),
    h("dl", { class: "meta" }, h("dt", {}, "Inputs"), h("dd", {}, io(m.inputs)),
      h("dt", {}, "Outputs"), h("dd", {}, io(m.outputs)),
      h("dt", {}, "SHA-256"), h("dd", {}, h("code", { class: "hash" }, m.sha256)),
      m.parent_id ? [h("dt", {}, "Converted from"), h("dd", {}, h("a", { href: `#/models/${m.parent_id}` }, m.parent_id),
        m.source_job ? [" by ", h("a", { href: `#/jobs/${m.source_job}` }, "this job")] : null)] : null));
}

function actions(m, ctx) {
  const dl = h("button", { type: "button", class: "primary", id: "download-model" }, "Download model");
  dl.addEventListener("click", () => download(`/v1/models/${m.id}/file`, m.name).catch(ctx.showError));
  const links = [dl];
  if (m.parent_id) {
    links.push(h("a", { class: "button", href: `#/compare?a=${m.parent_id}&b=${m.id}` }, "Compare with the original"));
  }
  return h("div", { class: "actions" }, links);
}

/** The conversion whose settings the form starts from (?again=JOB): its options, or null. */
async function preset(ctx, modelId) {
  const again = ctx.params && ctx.params.get("again");
  if (!again) return null;
  const job = await api("GET", `/v1/jobs/${again}`);
  if (job.kind !== "conversion" || job.params.model_id !== modelId) {
    ctx.showError(`job ${again} is not a conversion of this model: the form starts empty`);
    return null;
  }
  return { job, options: job.params.options || {}, dataset_id: job.params.dataset_id };
}

function presetNote(p) {
  return h("p", { class: "preset-note", id: "convert-preset", role: "status" }, "Filled in from ",
    h("a", { href: `#/jobs/${p.job.id}` }, p.job.id), p.job.tag ? [" (", h("span", { class: "tag" }, p.job.tag), ")"] : null,
    ": change what you like and press Convert.");
}

export async function render(view, ctx, id) {
  const [m, datasets, again] = await Promise.all([api("GET", `/v1/models/${id}`), api("GET", "/v1/datasets"), preset(ctx, id)]);
  if (ctx.signal.aborted) return;
  const layers = m.analysis.layers || [];
  const variants = await variantsSection(m.id, ctx);
  if (ctx.signal.aborted) return;
  const form = layers.length ? convertForm(m, datasets.items, again) : null;
  view.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Models"), " / "),
    h("h1", {}, tagged(m.name, m.tag)),
    summary(m), actions(m, ctx), variants,
    h("section", { "aria-labelledby": "layers-title" },
      h("h2", { id: "layers-title" }, `Conv layers (${layers.length})`),
      layers.length ? [shareBars("Share of the multiplications per Conv layer",
        layers.map((l) => ({ label: l.name, value: l.macs }))),
      scroller("Conv layers", layerTable(layers, m.analysis.conv_macs))]
        : h("p", { class: "muted" }, "This model has no Conv layer, so there is nothing to convert.")),
    form ? h("section", { "aria-labelledby": "convert-title", id: "convert" },
      h("h2", { id: "convert-title" }, "Convert"), again ? presetNote(again) : null, form) : null,
  );
  if (form && again) form.scrollIntoView({ block: "start" });
}
