// Initial-letter avatars: the first letter of the display name on a colour picked from the
// user's id (the same person has the same colour everywhere). Decorative: the name is beside it.
import { h } from "./dom.js";

const COLOURS = 8; // .avatar-0 … .avatar-7 in app.css, each with white text at 4.5:1 or more

function colourOf(id) {
  let hash = 0;
  for (const char of String(id)) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % COLOURS;
}

export function initial(name) {
  const first = Array.from(String(name || "?").trim())[0] || "?";
  return first.toLocaleUpperCase();
}

export function avatar(user, size = "") {
  return h("span", { className: `avatar avatar-${colourOf(user.id)}${size ? ` avatar-${size}` : ""}`, "aria-hidden": "true" }, initial(user.displayName || user.username));
}
