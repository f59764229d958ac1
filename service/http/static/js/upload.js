// A drop zone with a file picker and a progress bar, for models (.onnx) and datasets (.npz).

import { upload } from "./api.js";
import { h, newId } from "./dom.js";

/**
 * dropzone({title, accept, path, onUploaded}) -> element. Drop a file on it or pick one; the file
 * goes to `path` with a progress bar; onUploaded(body, created) runs after the server accepts it.
 */
export function dropzone({ title, hint, accept, path, onUploaded, name }) {
  const inputId = newId("file");
  const statusId = newId("upload-status");
  const input = h("input", { type: "file", id: inputId, accept, class: "visually-hidden", name,
    "aria-describedby": statusId });
  const bar = h("progress", { max: "1", value: "0", hidden: true, "aria-label": `${title}: upload progress` });
  const status = h("p", { id: statusId, class: "upload-status", "aria-live": "polite" }, hint);
  const zone = h("div", { class: "dropzone" },
    h("p", { class: "dropzone-title" }, title),
    h("p", {}, "Drop a file here, or ", h("label", { for: inputId, class: "button" }, "choose a file"), input),
    bar, status);

  async function send(file) {
    bar.hidden = false;
    bar.value = 0;
    status.textContent = `Uploading ${file.name}…`;
    status.classList.remove("error-text");
    zone.classList.add("busy");
    try {
      const { body, created } = await upload(path, file, (f) => { bar.value = f; });
      bar.value = 1;
      status.textContent = created ? `Uploaded ${body.name}.` : `${body.name}: these bytes were uploaded before.`;
      await onUploaded(body, created);
    } catch (err) {
      bar.hidden = true;
      const message = String(err.message || "the upload failed");  // the server's names the file already
      status.textContent = message.startsWith(`${file.name}: `) ? message : `${file.name}: ${message}`;
      status.classList.add("error-text");
    } finally {
      zone.classList.remove("busy");
      input.value = "";
    }
  }

  input.addEventListener("change", () => { if (input.files.length) send(input.files[0]); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
  });
  return zone;
}
