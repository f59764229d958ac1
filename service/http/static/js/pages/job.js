// A job's page: its state, stage and a progress bar that moves while it runs, elapsed time, cancel;
// then the result (a conversion's report, or a benchmark's latencies), or why it failed.

import { api } from "../api.js";
import { clear, fmt, h } from "../dom.js";
import { names as fetchNames, shortText } from "../names.js";
import { benchmarkResult, conversionResult, verdictBadge } from "./result.js";

const POLL_MS = 250;
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const active = (job) => job.state === "queued" || job.state === "running";

function elapsed(job) {
  const start = job.started || job.created;
  const end = job.finished || Date.now() / 1000;
  return Math.max(end - start, 0);
}

/** Seconds as a person estimates them: "about 40 s", "about 3 min". */
function roughly(sec) {
  if (sec < 10) return "a few seconds";
  if (sec < 60) return `about ${Math.round(sec / 5) * 5} s`;
  if (sec < 3600) return `about ${Math.round(sec / 60)} min`;
  return `about ${(sec / 3600).toFixed(1)} h`;
}

/** Time left from the fraction done and the time it took: "estimating…" until there is enough of both. */
export function timeLeft(fraction, elapsedS) {
  if (!(fraction >= 0.05) || elapsedS < 3) return "estimating…";
  if (fraction >= 1) return "";
  return `${roughly((elapsedS * (1 - fraction)) / fraction)} left`;
}

/** "fitting candidates: layer 3 of 7 (conv2_1)" as the phase and, apart, what is under way in it. */
function stageParts(text) {
  const at = text.indexOf(": ");
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 2)];
}

function progressPart() {
  const bar = h("progress", { id: "job-progress", max: "1", value: "0", "aria-labelledby": "job-stage" });
  const stage = h("span", { id: "job-stage" }, "…");
  const pct = h("span", { class: "pct" });
  const time = h("span", { id: "job-elapsed" });
  const left = h("span", { id: "job-eta" });
  const state = h("span", { class: "badge", id: "job-state" });
  const judged = h("span", { id: "job-verdict" });
  const el = h("div", { class: "card progress-card" }, h("div", { class: "progress-line" }, state, judged, stage, pct), bar,
    h("p", { class: "muted job-times" }, time, left));
  return {
    el,
    update(job) {
      const p = job.progress || { stage: job.state, fraction: 0 };
      const fraction = job.state === "succeeded" ? 1 : Math.min(Math.max(p.fraction || 0, 0), 1);
      bar.value = fraction;
      bar.dataset.fraction = String(fraction);
      state.textContent = job.state;
      state.className = `badge ${job.state}`;
      const failed = job.state === "failed";
      const e = job.error || {};
      const [phase, sub] = stageParts(p.stage || job.state);
      clear(stage).append(...(failed
        ? [e.kind === "cancelled" ? "cancelled" : `failed: ${shortText(e.message || "the job failed", 110)}`]
        : ["Stage: ", h("strong", {}, phase), sub ? " · " : "", sub ? h("span", { id: "job-substep" }, sub) : ""]));
      stage.className = failed ? "error-text" : "";
      pct.textContent = failed ? "" : fmt.pct(fraction, 0);
      bar.hidden = failed;
      const verdict = job.state === "succeeded" && job.result ? job.result.verdict : null;
      clear(judged).append(verdictBadge(verdict) || "");
      const took = elapsed(job);
      time.textContent = job.state === "queued" ? "Waiting for a worker" : `Elapsed: ${fmt.duration(took)}`;
      left.textContent = job.state === "running" ? ` · ${timeLeft(fraction, took) || "finishing"}` : "";
    },
  };
}

function describe(job, names) {
  const p = job.params || {};
  const model = (id) => h("a", { href: `#/models/${id}` }, names.models[id] || id);
  const unchecked = job.kind === "conversion" && (p.options || {}).verify === false;
  const data = p.dataset_id ? ` on dataset ${names.datasets[p.dataset_id] || p.dataset_id}`
    : unchecked ? ", without a dataset or verification" : " on random inputs";
  if (job.kind === "conversion") {
    const o = p.options || {};
    const precision = o.precision && o.precision !== "float" ? `, precision ${o.precision}` : "";
    return h("p", { id: "job-subject" }, "Converting ", model(p.model_id), ` with method ${o.method}${precision}`, data, ".");
  }
  const ids = p.model_ids || [];
  const batch = p.batch ? `, batch ${p.batch}` : "";
  if (ids.length < 2) {
    return h("p", { id: "job-subject" }, "Benchmarking ", model(ids[0]), data, `${batch}, ${p.runs} runs.`);
  }
  // the first is the reference the others are measured against, however many there are
  return h("p", { id: "job-subject" }, "Benchmarking ", ids.slice(1).map((id, i) => [i ? ", " : "", model(id)]),
    " against ", model(ids[0]), data, `${batch}, ${p.runs} runs.`);
}

function outcome(job, ctx, names) {
  if (job.state === "failed") {
    const e = job.error || {};
    const p = job.params || {};
    const retry = job.kind === "conversion" && p.model_id
      ? h("p", {}, h("a", { class: "button", id: "edit-retry", href: `#/models/${p.model_id}?retry=${job.id}` },
        "Edit and retry"), " ", h("span", { class: "muted" }, "opens the form with this job's options")) : null;
    return h("div", { class: "card error-card", role: "alert" }, h("h2", {}, e.kind === "cancelled" ? "Cancelled" : "Failed"),
      h("p", { text: e.message || "the job failed" }), retry);
  }
  if (job.state !== "succeeded" || !job.result) return null;
  return job.kind === "conversion" ? conversionResult(job, ctx) : benchmarkResult(job, names.models, names.datasets);
}

export async function render(view, ctx, id) {
  let job = await api("GET", `/v1/jobs/${id}`);
  const names = await fetchNames();
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
    describe(job, names), progress.el, h("div", { class: "actions" }, cancel), result);
  progress.update(job);
  while (active(job) && !ctx.signal.aborted) {
    await sleep(POLL_MS);
    if (ctx.signal.aborted) return;
    job = await api("GET", `/v1/jobs/${id}`);
    progress.update(job);
  }
  cancel.hidden = true;
  if (!ctx.signal.aborted) clear(result).append(outcome(job, ctx, names) || "");
}
