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

/** The compare page for the original and the converted model, on the conversion's dataset at the batch its
 * verification ran, so the benchmark measures what this result measured. */
function compareLink(job) {
  const q = new URLSearchParams({ a: job.params.model_id, b: job.result.model_id });
  if (job.params.dataset_id) q.set("dataset", job.params.dataset_id);
  const batch = ((job.result.report || {}).verification || {}).batch_size;
  if (Number.isInteger(batch) && batch > 0) q.set("batch", String(batch));
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

function autoPart(report) {
  const auto = report.auto;
  const lat = auto.latency || {};
  const b = auto.budget || {};
  const budget = [b.max_error ? `output error ≤ ${b.max_error}` : null,
    b.max_accuracy_drop !== null && b.max_accuracy_drop !== undefined ? `accuracy drop ≤ ${b.max_accuracy_drop} points` : null]
    .filter(Boolean).join(" and ") || "none";
  return h("section", { "aria-labelledby": "auto-title", id: "auto-result" }, h("h3", { id: "auto-title" }, "Auto mode"),
    h("div", { class: "stats" }, stat("Whole-model latency", `${fmt.ms(lat.before_ms)} → ${fmt.ms(lat.after_ms)}`,
      lat.speedup ? `${Number(lat.speedup).toFixed(2)}× faster (measured)` : null),
    stat("Budget", budget), stat("Accepted", auto.accepted ? "yes" : "no", auto.reason || null)),
    tradeoff(auto), autoLayers(report));
}

/** "spatial:r32" as its method and rank. */
function candidateParts(name) {
  const m = /^([a-z0-9_]+):r(\d+)$/i.exec(name || "");
  return m ? { method: m[1], rank: Number(m[2]) } : { method: name || "—", rank: null };
}

function candidateText(name) {
  const c = candidateParts(name);
  return c.rank === null ? c.method : `${c.method} r${c.rank}`;
}

/** Why auto mode chose what it did for one layer, in words (a kept layer: the report row's reason). */
function layerWhy(l, row) {
  if (l.decision === "keep") {
    if (row && row.reason) return row.reason;
    return l.time_saving_candidates ? "kept: no candidate saved time within the budget"
      : "kept: no candidate saves measurable time";
  }
  return `chosen: most time saved within the budget (saves ${fmt.ms(l.saved_ms)} of the layer's ${fmt.ms(l.orig_ms)} `
    + `in the whole model; layer error ${fmt.num(l.layer_error)})`;
}

function candidateTable(l) {
  const rows = (l.candidates || []).map((c) => {
    const parts = candidateParts(c.candidate);
    const chosen = c.candidate === l.decision;
    const saves = c.ms !== null && c.orig_ms !== null ? c.orig_ms - c.ms : null;
    return h("tr", { class: chosen ? "chosen-row" : null, "data-candidate": c.candidate },
      h("td", {}, parts.method), h("td", { class: "num" }, parts.rank === null ? "—" : String(parts.rank)),
      h("td", { class: "num" }, fmt.ratio(c.macs_ratio)), h("td", { class: "num" }, fmt.num(c.layer_error)),
      h("td", { class: "num" }, `${fmt.ms(c.ms)} vs ${fmt.ms(c.orig_ms)}`),
      h("td", { class: `num ${saves > 0 ? "ok" : "muted"}` }, saves === null ? "—" : fmt.ms(saves)),
      h("td", {}, chosen ? h("strong", { class: "chosen-mark" }, "chosen") : ""));
  });
  const head = ["Method", "Rank", "Multiplications", "Layer error", "Measured (vs original)", "Saves", ""];
  return scroller(`Candidates for ${l.name}`, h("table", { class: "candidates" },
    h("caption", {}, `Candidates measured for ${l.name}`),
    h("thead", {}, h("tr", {}, head.map((x, i) => h("th", { scope: "col", class: i > 0 && i < 6 ? "num" : null }, x)))),
    h("tbody", {}, rows)));
}

function layerDetails(l, row) {
  const chosen = l.decision !== "keep";
  const precision = row && row.precision && row.precision !== "float" ? ` · ${row.precision}` : "";
  const head = chosen ? `${candidateText(l.decision)}: ${fmt.ms(l.ms)} of ${fmt.ms(l.orig_ms)}` : `kept (${fmt.ms(l.orig_ms)})`;
  return h("details", { class: `auto-layer ${chosen ? "rewritten" : "kept"}`, open: chosen, "data-layer": l.name,
    "data-decision": l.decision },
  h("summary", {}, h("code", {}, l.name), " — ", h("span", { class: chosen ? "ok" : "muted" }, head), precision,
    h("span", { class: "muted" }, ` · ${(l.candidates || []).length} candidates, ${l.time_saving_candidates ?? 0} save time`)),
  h("p", { class: "why" }, layerWhy(l, row)), candidateTable(l));
}

/** Auto mode per layer: every candidate it measured (method, rank, layer error, milliseconds against
 * the original's), the one it chose, and why; then the layers it never tried. */
function autoLayers(report) {
  const decided = report.auto.layers || [];
  const rows = new Map((report.layers || []).map((r) => [r.name, r]));
  const tried = new Set(decided.map((l) => l.name));
  const untried = (report.layers || []).filter((r) => !tried.has(r.name));
  const all = (open) => () => {
    for (const d of document.querySelectorAll("#auto-layers details.auto-layer")) d.open = open;
  };
  return h("section", { id: "auto-layers", "aria-labelledby": "auto-layers-title" },
    h("h4", { id: "auto-layers-title" }, "Per layer: the candidates tried"),
    decided.length ? h("div", { class: "actions" }, h("button", { type: "button", class: "small", onclick: all(true) }, "Open all"),
      h("button", { type: "button", class: "small", onclick: all(false) }, "Close all")) : null,
    decided.map((l) => layerDetails(l, rows.get(l.name))),
    untried.length ? h("p", { class: "muted", id: "auto-untried" }, "Not tried: ",
      untried.map((r, i) => [i ? "; " : "", h("code", {}, r.name), `: ${r.reason || r.status}`])) : null);
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
    p.chosen !== "float" && Object.keys(p.float_between_int8 || {}).length
      ? h("p", { class: "muted", id: "precision-islands" }, "Run float after int8 layers (no int8 kernel in ONNX Runtime): ",
        Object.entries(p.float_between_int8).map(([op, n], i) => [i ? ", " : "", `${n} `, h("code", {}, op)])) : null,
    floats.length ? fallbackTable(floats) : null,
    (p.starts || []).length ? startsTable(p.starts) : null,
    (p.notes || []).length ? h("ul", {}, p.notes.map((n) => h("li", {}, n))) : null);
}

/** Precision auto's fallbacks: the nodes kept float, most sensitive first, with their sensitivity. */
function fallbackTable(floats) {
  const sorted = [...floats].sort((a, b) => (b.sensitivity ?? 0) - (a.sensitivity ?? 0));
  return h("div", { id: "precision-fallbacks" }, scroller("Kept float", simpleTable({
    caption: "Kept float: alone in int8, each moved the outputs this much (most sensitive first)",
    head: ["Node", "Sensitivity (output error, it alone in int8)", "Why"], numeric: [1],
    rows: sorted.map((f) => [h("code", {}, f.node), fmt.num(f.sensitivity), f.reason || ""]) })));
}

/** Auto mode with precision auto: the float models int8 was tried on, and how each did. */
function startsTable(starts) {
  return scroller("int8 starts", simpleTable({
    caption: "int8 tried on these steps of auto mode's path (0: the original)",
    head: ["Step", "Nodes in int8", "Kept float", "Held-out error", "Latency vs the original", "All int8 vs the original"],
    numeric: [0, 1, 2, 3, 4, 5],
    rows: starts.map((st) => [String(st.step), String(st.int8_nodes ?? 0), st.float_nodes === null ? "—" : String(st.float_nodes),
      fmt.num((st.held_out || {}).max_error), fmt.ratio(st.timed_ratio),
      fmt.ratio(st.every_node_int8_ratio)]) }));
}

export function conversionResult(job, ctx) {
  const report = job.result.report;
  return h("section", { "aria-labelledby": "result-title", class: "result" },
    h("h2", { id: "result-title" }, "Result"), verdictPart(job.result.verdict), totals(report), downloads(job, ctx),
    report.auto ? autoPart(report) : null,
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

/** What the benchmark ran on, in a line: "On dataset X, batch 8, 50 runs each." */
function benchLine(r, job, datasetNames) {
  const i = r.inputs || {};
  const id = i.dataset_id || (job.params || {}).dataset_id;
  const name = i.dataset_name || datasetNames[id] || id;
  const on = i.source === "data" ? `On dataset ${name}` : "On random inputs";
  const repeated = r.repeated_samples ? ` (its ${i.samples} samples repeated to fill the batch)` : "";
  const acc = r.accuracy_samples ? ` Top-1 accuracy on ${r.accuracy_samples} labelled samples.`
    : r.accuracy_note ? ` No accuracy: ${r.accuracy_note}.` : "";
  return h("p", { id: "bench-line" }, `${on}, batch ${r.batch_size}${repeated}, ${r.runs} runs each after ${r.warmup} `
    + `warm-up.${acc}`);
}

/** An output difference against the first model: the worst output's relative L2 error and cosine. */
function worstOutput(diff) {
  if (!diff || !diff.length) return null;
  return diff.reduce((w, o) => ((o.rel_l2_error ?? Infinity) > (w.rel_l2_error ?? -1) ? o : w), diff[0]);
}

export function benchmarkResult(job, names = {}, datasetNames = {}) {
  const r = job.result;
  const ms = (r.models || []).map((m) => ({ ...m, id: m.name, name: names[m.name] || m.name }));
  const pair = ms.length === 2 && (r.speedup || ms[1].speedup);
  const accuracy = ms.some((m) => m.accuracy !== null && m.accuracy !== undefined);
  const rows = ms.map((m, i) => {
    const w = worstOutput(m.output_difference);
    return [[`${i + 1}: `, h("a", { href: `#/models/${m.id}` }, m.name)],
      fmt.ms(m.median_ms), fmt.ms(m.p90_ms), m.throughput_per_s ? `${Math.round(m.throughput_per_s)}/s` : "—",
      i === 0 ? "reference" : m.speedup ? `${Number(m.speedup).toFixed(2)}×` : "—",
      i === 0 ? "—" : w ? fmt.num(w.rel_l2_error) : "—", i === 0 ? "—" : w ? fmt.num(w.cosine_similarity, 4) : "—",
      ...(accuracy ? [m.accuracy === null || m.accuracy === undefined ? "—" : fmt.pct(m.accuracy)] : [])];
  });
  const diff = ms.length === 2 ? ms[1].output_difference || r.output_difference : null;
  return h("section", { "aria-labelledby": "bench-title", class: "result", id: "bench-result" },
    h("h2", { id: "bench-title" }, "Result"),
    benchLine(r, job, datasetNames),
    h("div", { class: "stats" },
      pair ? stat("Speedup (1 / 2)", `${Number(ms[1].speedup || r.speedup).toFixed(2)}×`, "median latency of 1 over 2") : null,
      stat("Runs", String(r.runs), `batch of ${r.batch_size}, ${r.warmup} warm-up`),
      inputsStat(r, job, datasetNames)),
    latencies(ms),
    scroller("Models compared", simpleTable({ caption: "Models compared: speedup, output rel. L2 error and cosine similarity against model 1",
      numeric: accuracy ? [1, 2, 3, 4, 5, 6, 7] : [1, 2, 3, 4, 5, 6],
      head: ["Model", "Median", "p90", "Throughput", "Speedup", "Rel. L2", "Cosine",
        ...(accuracy ? ["Top-1 accuracy"] : [])], rows })),
    diff ? scroller("Output difference", simpleTable({ caption: "Output difference (model 2 against model 1)",
      head: ["Output", "Max abs error", "Rel. L2 error", "Cosine similarity"], numeric: [1, 2, 3],
      rows: diff.map((o) => [o.name, fmt.num(o.max_abs_error), fmt.num(o.rel_l2_error),
        fmt.num(o.cosine_similarity, 4)]) })) : null);
}
