// Talking to the /v1 API: JSON calls, uploads with progress, downloads through fetch.
// With an API key, it is kept in sessionStorage (this tab only) and sent as X-API-Key.

const KEY_SLOT = "sepconv.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY_SLOT),
  set: (k) => sessionStorage.setItem(KEY_SLOT, k),
  clear: () => sessionStorage.removeItem(KEY_SLOT),
};

/** Called with the error when the server refuses the key (the page asks for it again). */
let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function headers(extra) {
  const out = { ...extra };
  const k = key.get();
  if (k) out["X-API-Key"] = k;
  return out;
}

async function failure(status, text) {
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: a proxy's page, say */ }
  const message = body && body.message ? body.message : `the server answered ${status}`;
  const err = new ApiError(status, body ? body.error : "http_error", message, body ? body.details : []);
  if (status === 401) onUnauthorized(err);
  return err;
}

/** A JSON call; resolves to the body (null for 204), rejects with an ApiError carrying the API's message. */
export async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "cannot reach the server (is it still running?)");
  }
  const text = await res.text();
  if (!res.ok) throw await failure(res.status, text);
  return text ? JSON.parse(text) : null;
}

/** Upload a file as multipart (XHR, for the progress events fetch lacks); onProgress(fraction). */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [k, v] of Object.entries(headers({}))) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", async () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve({ created: xhr.status === 201, body: JSON.parse(xhr.responseText) });
      else reject(await failure(xhr.status, xhr.responseText));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the upload failed: cannot reach the server")));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The file name a Content-Disposition header gives (RFC 5987 form first). */
function nameFrom(disposition) {
  if (!disposition) return null;
  const star = disposition.match(/filename\*=(?:UTF-8|utf-8)''([^;]+)/);
  if (star) return decodeURIComponent(star[1]);
  const plain = disposition.match(/filename="?([^";]+)"?/);
  return plain ? plain[1] : null;
}

/** Download through fetch (so the key goes as a header, never in a URL). */
export async function download(path, filename) {
  let res;
  try {
    res = await fetch(path, { headers: headers({}) });
  } catch {
    throw new ApiError(0, "network", "cannot reach the server (is it still running?)");
  }
  if (!res.ok) throw await failure(res.status, await res.text());
  saveBlob(await res.blob(), filename || nameFrom(res.headers.get("Content-Disposition")) || "download");
}

export function saveJson(obj, filename) {
  saveBlob(new Blob([JSON.stringify(obj, null, 2)], { type: "application/json" }), filename);
}

/** The page's settings from the server: whether it needs a key (never the key itself). */
export async function webConfig() {
  const res = await fetch("/web/config");
  return res.ok ? res.json() : { api_key_required: false };
}
