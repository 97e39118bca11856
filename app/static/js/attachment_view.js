// Attachments in message bubbles: images as thumbnails that open the full image in a new tab,
// other files as a download chip with name, size and type. Names always go in as text.
import { h } from "./dom.js";

const THUMBNAIL_PX = 320; // the server's thumbnails are at most this on each side

const TYPE_LABELS = {
  "application/pdf": "PDF",
  "application/zip": "ZIP",
  "text/plain": "Text",
  "image/png": "PNG image",
  "image/jpeg": "JPEG image",
  "image/gif": "GIF image",
  "image/webp": "WebP image",
};

export function humanSize(bytes) {
  const size = Number(bytes) || 0;
  if (size < 1024) return `${size} ${size === 1 ? "byte" : "bytes"}`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(size < 10 * 1024 ? 1 : 0)} KB`;
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

export function typeLabel(contentType) {
  const type = String(contentType || "").split(";")[0].trim().toLowerCase();
  if (TYPE_LABELS[type]) return TYPE_LABELS[type];
  const sub = type.split("/")[1];
  return sub ? sub.toUpperCase() : "File";
}

export function attachmentUrl(attachment) {
  return `/api/attachments/${encodeURIComponent(attachment.id)}`;
}

// The thumbnail's size (the image scaled to fit THUMBNAIL_PX), so the bubble keeps its size while it loads.
function thumbnailSize(attachment) {
  const width = Number(attachment.width);
  const height = Number(attachment.height);
  if (!width || !height) return {};
  const scale = Math.min(1, THUMBNAIL_PX / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function renderImage(attachment) {
  const url = attachmentUrl(attachment);
  return h(
    "a",
    {
      className: "attachment-image",
      href: url,
      target: "_blank",
      rel: "noopener",
      title: `${attachment.filename} (open full size)`,
      dataset: { attachmentId: attachment.id },
    },
    h("img", { src: `${url}/thumbnail`, alt: attachment.filename, loading: "lazy", decoding: "async", ...thumbnailSize(attachment) }),
  );
}

function renderFile(attachment) {
  return h(
    "a",
    {
      className: "attachment-file",
      href: attachmentUrl(attachment),
      download: attachment.filename,
      dataset: { attachmentId: attachment.id },
    },
    h("span", { className: "attachment-icon", "aria-hidden": "true" }),
    h("span", { className: "attachment-name" }, attachment.filename),
    h("span", { className: "attachment-details" }, `${humanSize(attachment.size)} · ${typeLabel(attachment.contentType)}`),
  );
}

// The attachments of a message (null when it has none): they live inside its bubble, so they go with it.
export function renderAttachments(attachments) {
  if (!Array.isArray(attachments) || !attachments.length) return null;
  return h(
    "div",
    { className: "message-attachments" },
    attachments.map((attachment) => (attachment.hasThumbnail ? renderImage(attachment) : renderFile(attachment))),
  );
}

// A message in one line (the conversation list's preview): its text, or what it carries.
export function previewText(message) {
  if (message.content || !Array.isArray(message.attachments) || !message.attachments.length) return message.content;
  if (message.attachments.length > 1) return `${message.attachments.length} attachments`;
  const [attachment] = message.attachments;
  return `${attachment.hasThumbnail ? "Photo" : "File"}: ${attachment.filename}`;
}
