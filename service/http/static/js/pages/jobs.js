// Recent jobs, newest first, with their state, the verdict on each conversion, and links; refreshed
// while any is still running. State comes right after the job so that a phone shows it unscrolled.

import { api } from "../api.js";
import { clear, fmt, h, scroller } from "../dom.js";
import { names as fetchNames, shortText, tagged } from "../names.js";
import { simpleTable } from "../table.js";
import { verdictBadge } from "./result.js";

const REFRESH_MS = 1000;

function subject(job, names) {
  const p = job.params || {};
  const link = (id) => tagged(h("a", { href: `#/models/${id}` }, names.models[id] || id), names.tags[id]);
  if (job.kind === "conversion") return [link(p.model_id), job.tag ? [" → ", h("span", { class: "tag" }, job.tag)] : null];
  return (p.model_ids || []).map((id, i) => [i ? " vs " : "", link(id)]);
}

function progressText(job) {
  if (job.state === "failed") {
    const e = job.error || {};
    const message = e.kind === "cancelled" ? "cancelled" : (e.message || "failed");
    return h("span", { class: "error-text job-error", title: message }, shortText(message, 70));
  }
  if (job.state === "succeeded") return fmt.duration(job.timings.run_s);
  const p = job.progress || {};
  return `${shortText(p.stage || job.state, 60)} ${fmt.pct(p.fraction || 0, 0)}`;  // the sub-step is the job page's
}

function stateCell(job) {
  const verdict = job.state === "succeeded" && job.result ? job.result.verdict : null;
  return h("span", { class: "state-cell" }, h("span", { class: `badge ${job.state}` }, job.state),
    verdict ? [" ", verdictBadge(verdict)] : null);
}

function table(items, names) {
  if (!items.length) return h("p", { class: "muted" }, "No jobs yet: convert a model from its page.");
  return scroller("Jobs", simpleTable({
    caption: "Recent jobs, newest first",
    head: ["Job", "State", "Model", "Kind", "Progress, run time or error", "Created"],
    rows: items.map((j) => [h("a", { href: `#/jobs/${j.id}` }, j.id), stateCell(j), subject(j, names), j.kind,
      progressText(j), fmt.time(j.created)]),
  }));
}

export async function render(view, ctx) {
  const box = h("div", { id: "job-list" });
  view.append(h("h1", {}, "Jobs"), box);
  for (;;) {
    const [page, names] = await Promise.all([api("GET", "/v1/jobs?limit=50"), fetchNames()]);
    if (ctx.signal.aborted) return;
    clear(box).append(table(page.items, names));
    if (!page.items.some((j) => j.state === "queued" || j.state === "running")) return;
    await new Promise((r) => { setTimeout(r, REFRESH_MS); });
    if (ctx.signal.aborted) return;
  }
}
