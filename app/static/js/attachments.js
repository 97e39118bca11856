// Files to send with the next message: picked with the Attach button, dropped on the chat or
// pasted. Each is uploaded at once (XMLHttpRequest, for its upload progress) and shown above
// the composer as a chip: name, size, a progress bar, a remove button, and the server's
// message when it refused the file. The composer sends the ids of the uploaded ones.
import { goToLogin } from "./api.js";
import { byId, h, setText } from "./dom.js";
import { humanSize } from "./attachment_view.js";

const MAX_FILES = 10; // a message carries at most this many

function csrfToken() {
  const prefix = "csrf_access_token=";
  const found = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : null;
}

function errorMessage(status, body) {
  const error = (body && body.error) || {};
  if (error.message) return error.message;
  if (status === 413) return "The file is too large.";
  if (status === 415) return "This type of file cannot be sent.";
  if (status === 429) return "Too many uploads; try again in a moment.";
  return `The upload failed (${status}).`;
}

function hasFiles(dataTransfer) {
  return Boolean(dataTransfer) && [...(dataTransfer.types || [])].includes("Files");
}

let counter = 0;

export class AttachmentTray {
  constructor() {
    this.items = []; // {key, file, name, size, state: uploading|done|error, attachment, error, xhr, element}
    this.chat = byId("chat");
    this.form = byId("composer");
    this.tray = h("ul", { id: "attachment-tray", className: "attachment-tray", "aria-label": "Files to send", hidden: true });
    this.input = h("input", { id: "attach-input", type: "file", multiple: true, hidden: true, tabindex: "-1", "aria-hidden": "true" });
    this.button = h(
      "button",
      { id: "attach-button", type: "button", className: "attach-button", "aria-label": "Attach files", title: "Attach files (or drop them on the chat, or paste an image)" },
      h("span", { className: "attach-icon", "aria-hidden": "true" }),
      h("span", { className: "attach-text" }, "Attach"),
    );
  }

  // Puts the button, the hidden input and the tray into the composer; listens for drops and pastes.
  bind() {
    const label = this.form.querySelector('label[for="message-input"]') || byId("message-input");
    label.before(this.tray);
    const send = byId("send-button");
    send.before(this.button, this.input);
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      this.add([...this.input.files]);
      this.input.value = ""; // the same file can be picked again
    });
    const over = (event) => {
      if (!hasFiles(event.dataTransfer)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      this.chat.classList.add("dropping");
    };
    this.chat.addEventListener("dragenter", over);
    this.chat.addEventListener("dragover", over);
    this.chat.addEventListener("dragleave", (event) => {
      if (!event.relatedTarget || !this.chat.contains(event.relatedTarget)) this.chat.classList.remove("dropping");
    });
    this.chat.addEventListener("drop", (event) => {
      this.chat.classList.remove("dropping");
      const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
      if (!files.length) return;
      event.preventDefault();
      this.add(files);
    });
    this.chat.addEventListener("paste", (event) => {
      const files = event.clipboardData ? [...event.clipboardData.files] : [];
      if (!files.length) return; // text pastes as usual
      event.preventDefault();
      this.add(files);
    });
    return this;
  }

  active() {
    return this.items.filter((item) => item.state !== "error");
  }

  add(files) {
    for (const file of files) {
      counter += 1;
      const name = file.name || `pasted-${counter}.${(file.type.split("/")[1] || "bin").replace(/[^a-z0-9]/gi, "")}`;
      const item = { key: String(counter), file, name, size: file.size, state: "uploading", attachment: null, error: "", xhr: null, progress: 0 };
      if (this.active().length >= MAX_FILES) {
        item.state = "error";
        item.error = `At most ${MAX_FILES} files can go with one message.`;
      }
      item.element = this.renderChip(item);
      this.items.push(item);
      this.tray.append(item.element);
      if (item.state === "uploading") this.upload(item);
    }
    this.tray.hidden = !this.items.length;
  }

  // Files of a message taken back from the outbox (Edit): already uploaded, ready to send again.
  restore(attachments) {
    for (const attachment of attachments || []) {
      counter += 1;
      const item = { key: String(counter), file: null, name: attachment.filename, size: attachment.size, state: "done", attachment, error: "", xhr: null, progress: 1 };
      item.element = this.renderChip(item);
      this.items.push(item);
      this.tray.append(item.element);
    }
    this.tray.hidden = !this.items.length;
  }

  upload(item) {
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("POST", "/api/attachments");
    xhr.setRequestHeader("Accept", "application/json");
    const csrf = csrfToken();
    if (csrf) xhr.setRequestHeader("X-CSRF-TOKEN", csrf);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable || !event.total) return;
      item.progress = event.loaded / event.total;
      this.renderState(item);
    });
    xhr.addEventListener("load", () => {
      item.xhr = null;
      let body = {};
      try {
        body = JSON.parse(xhr.responseText || "{}");
      } catch {
        body = {};
      }
      if (xhr.status === 201 && body.attachment) {
        item.state = "done";
        item.progress = 1;
        item.attachment = body.attachment;
      } else {
        if (xhr.status === 401) goToLogin();
        item.state = "error";
        item.error = errorMessage(xhr.status, body);
      }
      this.renderState(item);
    });
    xhr.addEventListener("error", () => {
      item.xhr = null;
      item.state = "error";
      item.error = "The upload failed: cannot reach the server. Remove the file and try again.";
      this.renderState(item);
    });
    const form = new FormData();
    form.append("file", item.file, item.name);
    xhr.send(form);
  }

  remove(item) {
    if (item.xhr) item.xhr.abort();
    item.xhr = null;
    this.items = this.items.filter((candidate) => candidate !== item);
    item.element.remove();
    this.tray.hidden = !this.items.length;
    if (!this.items.length) byId("message-input").focus();
    else {
      const next = this.tray.querySelector(".upload-remove");
      if (next) next.focus();
    }
  }

  // For the composer: whether the message can go, and the uploaded files it carries.
  check() {
    if (this.items.some((item) => item.state === "uploading")) {
      return { ok: false, message: "Wait until the files are uploaded (or remove them)." };
    }
    return { ok: true, attachments: this.items.filter((item) => item.state === "done").map((item) => item.attachment) };
  }

  // After the message is queued: the files it carries leave the tray; refused ones stay with
  // their reason until removed (so a file that did not go is never silently forgotten).
  clear() {
    for (const item of this.items) {
      if (item.state === "error") continue;
      if (item.xhr) item.xhr.abort();
      item.element.remove();
    }
    this.items = this.items.filter((item) => item.state === "error");
    this.tray.hidden = !this.items.length;
  }

  renderChip(item) {
    const element = h(
      "li",
      { className: "upload-chip", dataset: { state: item.state, key: item.key } },
      h("span", { className: "upload-name" }, item.name),
      h("span", { className: "upload-size" }, humanSize(item.size)),
      h("progress", { className: "upload-progress", max: "100", value: "0", "aria-label": `Uploading ${item.name}` }),
      h("span", { className: "upload-status", role: "status" }),
      h("p", { className: "upload-error", role: "alert", hidden: true }),
      h("button", { type: "button", className: "upload-remove", "aria-label": `Remove ${item.name}`, title: "Remove", onClick: () => this.remove(item) }, "×"),
    );
    item.element = element;
    this.renderState(item);
    return element;
  }

  renderState(item) {
    const element = item.element;
    if (!element) return;
    element.dataset.state = item.state;
    const progress = element.querySelector(".upload-progress");
    progress.value = Math.round(item.progress * 100);
    progress.hidden = item.state !== "uploading";
    setText(element.querySelector(".upload-status"), item.state === "done" ? "Ready" : "");
    const error = element.querySelector(".upload-error");
    setText(error, item.error);
    error.hidden = !item.error;
  }
}
