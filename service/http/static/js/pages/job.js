// A job's page: its state, stage and a progress bar that moves while it runs, elapsed time, cancel;
// then the result (a conversion's report, or a benchmark's latencies), or why it failed.

import { api } from "../api.js";
import { clear, fmt, h } from "../dom.js";
import { benchmarkResult, conversionResult } from "./result.js";

const POLL_MS = 250;
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const active = (job) => job.state === "queued" || job.state === "running";

function elapsed(job) {
  const start = job.started || job.created;
  const end = job.finished || Date.now() / 1000;
  return Math.max(end - start, 0);
}

function progressPart() {
  const bar = h("progress", { id: "job-progress", max: "1", value: "0", "aria-labelledby": "job-stage" });
  const stage = h("span", { id: "job-stage" }, "…");
  const pct = h("span", { class: "pct" });
  const time = h("span", { class: "muted", id: "job-elapsed" });
  const state = h("span", { class: "badge", id: "job-state" });
  const el = h("div", { class: "card progress-card" }, h("div", { class: "progress-line" }, state, stage, pct), bar, time);
  return {
    el,
    update(job) {
      const p = job.progress || { stage: job.state, fraction: 0 };
      const fraction = job.state === "succeeded" ? 1 : Math.min(Math.max(p.fraction || 0, 0), 1);
      bar.value = fraction;
      bar.dataset.fraction = String(fraction);
      state.textContent = job.state;
      state.className = `badge ${job.state}`;
      stage.textContent = `Stage: ${p.stage || job.state}`;
      pct.textContent = fmt.pct(fraction, 0);
      time.textContent = `Elapsed: ${fmt.duration(elapsed(job))}${job.state === "queued" ? " (waiting for a worker)" : ""}`;
    },
  };
}

function describe(job) {
  const p = job.params || {};
  if (job.kind === "conversion") {
    const o = p.options || {};
    return h("p", {}, "Converting ", h("a", { href: `#/models/${p.model_id}` }, p.model_id), ` with method ${o.method}`,
      p.dataset_id ? ` on dataset ${p.dataset_id}` : " on random inputs", ".");
  }
  return h("p", {}, "Benchmarking ", (p.model_ids || []).map((id, i) => [i ? " against " : "",
    h("a", { href: `#/models/${id}` }, id)]), `, ${p.runs} runs.`);
}

/** Model names by id, for a benchmark's labels (one list call: a deleted model is no error). */
async function modelNames() {
  const page = await api("GET", "/v1/models?limit=1000");
  return Object.fromEntries(page.items.map((m) => [m.id, m.name]));
}

function outcome(job, ctx, names) {
  if (job.state === "failed") {
    const e = job.error || {};
    return h("div", { class: "card error-card", role: "alert" }, h("h2", {}, e.kind === "cancelled" ? "Cancelled" : "Failed"),
      h("p", { text: e.message || "the job failed" }));
  }
  if (job.state !== "succeeded" || !job.result) return null;
  return job.kind === "conversion" ? conversionResult(job, ctx) : benchmarkResult(job, names);
}

export async function render(view, ctx, id) {
  let job = await api("GET", `/v1/jobs/${id}`);
  if (ctx.signal.aborted) return;
  const progress = progressPart();
  const cancel = h("button", { type: "button", class: "danger", id: "cancel-job" }, "Cancel job");
  const result = h("div", { id: "job-result" },
    h("p", { class: "muted" }, "The result appears here when the job is done; you can leave this page and come back."));
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      job = await api("DELETE", `/v1/jobs/${id}`);
    } catch (err) {
      ctx.showError(err);
      cancel.disabled = false;
    }
  });
  view.append(h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / "),
    h("h1", {}, `${job.kind === "conversion" ? "Conversion" : "Benchmark"} ${job.id}`),
    describe(job), progress.el, h("div", { class: "actions" }, cancel), result);
  progress.update(job);
  while (active(job) && !ctx.signal.aborted) {
    await sleep(POLL_MS);
    if (ctx.signal.aborted) return;
    job = await api("GET", `/v1/jobs/${id}`);
    progress.update(job);
  }
  cancel.hidden = true;
  const names = job.kind === "benchmark" && job.state === "succeeded" ? await modelNames() : {};
  if (!ctx.signal.aborted) clear(result).append(outcome(job, ctx, names) || "");
}
