// Recent jobs, newest first, with their state and links; refreshed while any is still running.

import { api } from "../api.js";
import { clear, fmt, h, scroller } from "../dom.js";
import { simpleTable } from "../table.js";

const REFRESH_MS = 1000;

function subject(job) {
  const p = job.params || {};
  if (job.kind === "conversion") return h("a", { href: `#/models/${p.model_id}` }, p.model_id);
  return (p.model_ids || []).map((id, i) => [i ? " vs " : "", h("a", { href: `#/models/${id}` }, id)]);
}

function progressText(job) {
  if (job.state === "failed") return (job.error && job.error.message) || "failed";
  if (job.state === "succeeded") return fmt.duration(job.timings.run_s);
  const p = job.progress || {};
  return `${p.stage || job.state} ${fmt.pct(p.fraction || 0, 0)}`;
}

function table(items) {
  if (!items.length) return h("p", { class: "muted" }, "No jobs yet: convert a model from its page.");
  return scroller("Jobs", simpleTable({
    caption: "Recent jobs, newest first",
    head: ["Job", "Kind", "Model", "State", "Progress or run time", "Created"],
    rows: items.map((j) => [h("a", { href: `#/jobs/${j.id}` }, j.id), j.kind, subject(j),
      h("span", { class: `badge ${j.state}` }, j.state), progressText(j), fmt.time(j.created)]),
  }));
}

export async function render(view, ctx) {
  const box = h("div", { id: "job-list" });
  view.append(h("h1", {}, "Jobs"), box);
  for (;;) {
    const page = await api("GET", "/v1/jobs?limit=50");
    if (ctx.signal.aborted) return;
    clear(box).append(table(page.items));
    if (!page.items.some((j) => j.state === "queued" || j.state === "running")) return;
    await new Promise((r) => { setTimeout(r, REFRESH_MS); });
    if (ctx.signal.aborted) return;
  }
}
