// The page's router: the #fragment names the view; each view renders into <main> and stops its
// polling when the reader moves on. Errors become a message in the banner, never a blank page.

import { ApiError, key, webConfig, whenUnauthorized } from "./api.js";
import { clear, h } from "./dom.js";
import * as compare from "./pages/compare.js";
import * as jobs from "./pages/jobs.js";
import * as job from "./pages/job.js";
import * as keyPrompt from "./pages/key.js";
import * as model from "./pages/model.js";
import * as models from "./pages/models.js";

const view = document.getElementById("view");
const banner = document.getElementById("banner");
const forgetKey = document.getElementById("forget-key");
let current = null; // the AbortController of the view on screen
let needsKey = false;

const ROUTES = [
  [/^\/?(?:models)?$/, models.render, "models"],
  [/^\/models\/([\w-]+)$/, model.render, "models"],
  [/^\/jobs$/, jobs.render, "jobs"],
  [/^\/jobs\/([\w-]+)$/, job.render, "jobs"],
  [/^\/compare$/, compare.render, "compare"],
];

export function showError(err) {
  const message = err instanceof Error ? err.message : String(err);
  clear(banner).append(h("span", { text: message }),
    h("button", { type: "button", class: "link", onclick: () => { banner.hidden = true; } }, "Dismiss"));
  banner.hidden = false;
}

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  const [path, query] = raw.split("?");
  return { path, params: new URLSearchParams(query || "") };
}

function markNav(section) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const ctx = { signal: current.signal, params: null, showError };
  banner.hidden = true;
  forgetKey.hidden = !(needsKey && key.get());
  clear(view);
  if (needsKey && !key.get()) {
    keyPrompt.render(view, ctx, { onKey: route });
    return;
  }
  const { path, params } = parseHash();
  ctx.params = params;
  const found = ROUTES.find(([re]) => re.test(path));
  if (!found) {
    markNav(null);
    view.append(h("h1", { tabindex: "-1" }, "Not found"),
      h("p", {}, "There is no page here. ", h("a", { href: "#/" }, "Go to the models.")));
    return;
  }
  const [re, render, section] = found;
  markNav(section);
  try {
    await render(view, ctx, ...path.match(re).slice(1));
  } catch (err) {
    if (!ctx.signal.aborted) failView(err);
  }
}

function failView(err) {
  if (err instanceof ApiError && err.status === 401) return; // the key prompt takes over
  clear(view).append(h("h1", { tabindex: "-1" }, "Something went wrong"),
    h("p", { class: "error-text", text: err.message || String(err) }),
    h("p", {}, h("a", { href: "#/" }, "Back to the models")));
}

function focusHeading() {
  const h1 = view.querySelector("h1");
  if (h1) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

whenUnauthorized((err) => {
  needsKey = true;
  key.clear();
  if (current) current.abort();
  clear(view);
  keyPrompt.render(view, { signal: new AbortController().signal }, { onKey: route, problem: err.message });
});

forgetKey.addEventListener("click", () => {
  key.clear();
  route();
});

window.addEventListener("error", (e) => showError(e.message || "unexpected error"));
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  showError(e.reason || "unexpected error");
});
window.addEventListener("hashchange", () => route().then(focusHeading));

async function start() {
  try {
    needsKey = (await webConfig()).api_key_required;
  } catch {
    showError("cannot reach the server (is it still running?)");
  }
  await route();
}

start();
