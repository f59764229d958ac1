// What a finished job made: a conversion's totals, decisions, verification and auto mode's
// trade-off, with downloads; or a benchmark's latencies and speedup.

import { download, saveJson } from "../api.js";
import { latencies, tradeoff } from "../charts.js";
import { fmt, h, scroller, stat } from "../dom.js";
import { simpleTable } from "../table.js";

function beforeAfter(label, t, f) {
  if (!t) return null;
  return stat(label, `${f(t.before)} → ${f(t.after)}`, t.ratio !== null && t.ratio !== undefined ? `${fmt.ratio(t.ratio)} of before` : null);
}

function totals(report) {
  const t = report.totals || {};
  return h("div", { class: "stats", id: "result-totals" },
    beforeAfter("Multiplications (Convs)", t.conv_macs, fmt.macs),
    beforeAfter("Parameters", t.params, fmt.int),
    beforeAfter("File size", t.file_bytes, fmt.bytes),
    stat("Convs rewritten", `${t.rewritten ?? 0} of ${t.convs ?? 0}`, t.skipped ? `${t.skipped} kept as they were` : null));
}

const LEVEL_TEXT = { good: "Good", warn: "Check", broken: "Broken", unchecked: "Unchecked", unchanged: "No change" };

/** The service's verdict on a conversion as one badge: its level, in a word, for the jobs list. */
export function verdictBadge(verdict) {
  if (!verdict) return null;
  return h("span", { class: `verdict-badge ${verdict.level}`, title: verdict.summary || "" },
    verdict.label || LEVEL_TEXT[verdict.level] || verdict.level);
}

/** The verdict at the top of a result: the level, what was measured and gained, and why. */
function verdictPart(verdict) {
  if (!verdict) return null;
  return h("div", { class: `verdict ${verdict.level}`, id: "verdict", role: "status", "data-level": verdict.level },
    h("p", { class: "verdict-head" }, verdictBadge(verdict), " ", h("strong", {}, verdict.summary || "")),
    (verdict.reasons || []).map((r) => h("p", { class: "verdict-reason" }, r)));
}

function compareLink(job) {
  const q = new URLSearchParams({ a: job.params.model_id, b: job.result.model_id });
  if (job.params.dataset_id) q.set("dataset", job.params.dataset_id);
  return `#/compare?${q}`;
}

function downloads(job, ctx) {
  const report = job.result.report;
  const verdict = job.result.verdict;
  const reportBtn = h("button", { type: "button", id: "download-report" }, "Download report (JSON)");
  reportBtn.addEventListener("click", () => saveJson(report, `${job.id}.report.json`));
  if (!job.result.model_id) {
    return h("div", {}, h("p", { class: "muted", id: "no-model" },
      "No new model was stored: the conversion changed nothing, so the original is the result."),
    h("div", { class: "actions" }, reportBtn));
  }
  const trusted = !verdict || verdict.recommend_download;
  const label = trusted ? "Download converted model"
    : verdict.level === "unchecked" ? "Download the unverified model" : "Download anyway (not recommended)";
  const modelBtn = h("button", { type: "button", class: trusted ? "primary" : null, id: "download-converted" }, label);
  modelBtn.addEventListener("click", () => download(`/v1/models/${job.result.model_id}/file`).catch(ctx.showError));
  return h("div", { class: "actions" }, modelBtn, reportBtn,
    h("a", { class: "button", href: `#/models/${job.result.model_id}` }, "Open the converted model"),
    h("a", { class: "button", href: compareLink(job), id: "benchmark-both" }, "Benchmark both"));
}

function decisions(report) {
  // auto mode refits the last factor on data: its weight error says little (it can read above 1 for
  // a layer that is fine), so auto results show each layer's output error on the data instead
  const auto = Boolean(report.auto);
  const fallbacks = new Map(((report.precision || {}).float_nodes || []).map((f) => [f.node, f.reason]));
  const layers = report.layers || [];
  const energy = layers.some((l) => l.energy_kept !== null && l.energy_kept !== undefined);  // none in auto mode
  const rows = layers.map((l) => [
    h("code", {}, l.name), h("span", { class: l.status === "rewritten" ? "ok" : "muted" }, l.status),
    l.method ? `${l.method}${l.rank ? ` r${l.rank}${l.full_rank ? ` of ${l.full_rank}` : ""}` : ""}` : "—",
    `${fmt.macs(l.macs_before)} → ${fmt.macs(l.macs_after)}`,
    `${fmt.int(l.params_before)} → ${fmt.int(l.params_after)}`,
    fmt.num(auto ? l.output_rel_error : l.weight_rel_error),
    ...(energy ? [l.energy_kept === null || l.energy_kept === undefined ? "—" : fmt.pct(l.energy_kept, 2)] : []),
    l.precision || "float",
    [l.reason || "", fallbacks.get(l.name) ? ` ${fallbacks.get(l.name)}` : ""]]);
  return scroller("Per-layer decisions", simpleTable({ caption: "Per-layer decisions",
    head: ["Layer", "Status", "Method, rank (of the full rank)", "Multiplications", "Parameters",
      auto ? "Output error" : "Weight error", ...(energy ? ["Energy kept"] : []), "Precision", "Why"],
    rows, numeric: energy ? [3, 4, 5, 6] : [3, 4, 5] }));
}

/** What the verification ran on; in auto mode, why that is fewer samples than the dataset holds. */
function verifiedOn(v, auto) {
  const split = (auto || {}).split || {};
  if (v.inputs !== "data") return `On ${v.samples} random inputs.`;
  if (auto && split.fit && split.held_out === v.samples) {
    return `On ${v.samples} held-out samples of ${split.fit + split.held_out}; the other ${split.fit} fitted the layers, `
      + "so they would flatter the result.";
  }
  return `On ${v.samples} samples of the dataset.`;
}

function verification(report) {
  const v = report.verification;
  if (!v) return h("p", { class: "muted" }, "Not verified (verification was off).");
  const rows = (v.outputs || []).map((o) => [o.name, fmt.num(o.max_abs_error), fmt.num(o.rel_l2_error),
    fmt.num(o.cosine_similarity, 4), o.top1_agreement === null || o.top1_agreement === undefined ? "—" : fmt.pct(o.top1_agreement),
    String(o.nonfinite_values ?? 0)]);
  const acc = v.accuracy;
  return h("div", { id: "verification" },
    h("p", { id: "verified-on" }, verifiedOn(v, report.auto)),
    acc ? h("div", { class: "stats" }, stat("Accuracy before", fmt.pct(acc.before, 2)), stat("Accuracy after", fmt.pct(acc.after, 2)),
      stat("Drop", `${Number(acc.drop_points).toFixed(2)} points`)) : null,
    scroller("Errors per output", simpleTable({ caption: "Errors per output",
      head: ["Output", "Max abs error", "Rel. L2 error", "Cosine similarity", "Top-1 agreement", "Non-finite"],
      rows, numeric: [1, 2, 3, 4, 5] })));
}

function autoPart(auto) {
  const lat = auto.latency || {};
  const b = auto.budget || {};
  const budget = [b.max_error ? `output error ≤ ${b.max_error}` : null,
    b.max_accuracy_drop !== null && b.max_accuracy_drop !== undefined ? `accuracy drop ≤ ${b.max_accuracy_drop} points` : null]
    .filter(Boolean).join(" and ") || "none";
  return h("section", { "aria-labelledby": "auto-title", id: "auto-result" }, h("h3", { id: "auto-title" }, "Auto mode"),
    h("div", { class: "stats" }, stat("Whole-model latency", `${fmt.ms(lat.before_ms)} → ${fmt.ms(lat.after_ms)}`,
      lat.speedup ? `${Number(lat.speedup).toFixed(2)}× faster (measured)` : null),
    stat("Budget", budget), stat("Accepted", auto.accepted ? "yes" : "no", auto.reason || null)),
    tradeoff(auto));
}

function precisionPart(p, totals) {
  const by = (totals || {}).conv_macs_by_precision || {};
  const cal = p.calibration || {};
  const floats = p.float_nodes || [];
  return h("section", { "aria-labelledby": "precision-title", id: "precision-result" },
    h("h3", { id: "precision-title" }, "Precision"),
    h("div", { class: "stats" },
      stat("Precision", `${p.chosen}`, p.requested !== p.chosen ? `asked for ${p.requested}` : null),
      stat("Multiplications in int8", fmt.macs(by.int8 ?? 0), `${fmt.macs(by.float ?? 0)} stay float`),
      cal.method ? stat("Calibration", cal.method, cal.samples ? `on ${cal.samples} samples, chosen on held-out data` : null) : null,
      stat("Layers kept float", String(floats.length), floats.length ? "their int8 error broke the budget" : null)),
    p.reason ? h("p", { class: "muted", id: "precision-reason" }, `Kept float: ${p.reason}`) : null,
    (p.notes || []).length ? h("ul", {}, p.notes.map((n) => h("li", {}, n))) : null);
}

export function conversionResult(job, ctx) {
  const report = job.result.report;
  return h("section", { "aria-labelledby": "result-title", class: "result" },
    h("h2", { id: "result-title" }, "Result"), verdictPart(job.result.verdict), totals(report), downloads(job, ctx),
    report.auto ? autoPart(report.auto) : null,
    report.precision ? precisionPart(report.precision, report.totals) : null,
    h("h3", {}, "Verification"), verification(report),
    h("h3", {}, "Layers"), decisions(report));
}

function inputsStat(r, job, datasetNames) {
  const i = r.inputs;
  if (!i) return stat("Inputs", "—");
  const id = (job.params || {}).dataset_id;
  const what = i.source === "data" ? `dataset ${datasetNames[id] || id || ""}`.trim() : "random inputs";
  return h("div", { class: "stat", id: "bench-inputs" }, h("div", { class: "stat-label" }, "Inputs"),
    h("div", { class: "stat-value" }, what), h("div", { class: "stat-note" }, `${i.samples} samples, batch of ${i.batch}`));
}

export function benchmarkResult(job, names = {}, datasetNames = {}) {
  const r = job.result;
  const ms = (r.models || []).map((m) => ({ ...m, id: m.name, name: names[m.name] || m.name }));
  const rows = ms.map((m, i) => [
    [`${String.fromCharCode(65 + i)}: `, h("a", { href: `#/models/${m.id}` }, m.name)],
    fmt.ms(m.min_ms), fmt.ms(m.median_ms), fmt.ms(m.mean_ms), fmt.ms(m.p90_ms), `${Math.round(m.throughput_per_s)}/s`]);
  return h("section", { "aria-labelledby": "bench-title", class: "result", id: "bench-result" },
    h("h2", { id: "bench-title" }, "Result"),
    h("div", { class: "stats" },
      r.speedup ? stat("Speedup (A / B)", `${Number(r.speedup).toFixed(2)}×`, "median latency of A over B") : null,
      stat("Runs", String(r.runs), `batch of ${r.batch_size}, ${r.warmup} warm-up`),
      inputsStat(r, job, datasetNames)),
    latencies(ms),
    scroller("Latency per model", simpleTable({ caption: "Latency per model", numeric: [1, 2, 3, 4, 5],
      head: ["Model", "Min", "Median", "Mean", "p90", "Throughput"], rows })),
    r.output_difference ? scroller("Output difference", simpleTable({ caption: "Output difference (B against A)",
      head: ["Output", "Max abs error", "Rel. L2 error", "Cosine similarity"], numeric: [1, 2, 3],
      rows: r.output_difference.map((o) => [o.name, fmt.num(o.max_abs_error), fmt.num(o.rel_l2_error),
        fmt.num(o.cosine_similarity, 4)]) })) : null);
}
