// Links in message text: http and https addresses become <a> elements built as DOM nodes (the
// rest stays text nodes); nothing in a message is ever parsed as HTML.
import { h } from "./dom.js";

const ADDRESS = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"\]}>]$/;

// An address as typed, without the punctuation that ends the sentence around it.
function trim(address) {
  let text = address;
  for (;;) {
    if (TRAILING.test(text)) text = text.slice(0, -1);
    else if (text.endsWith(")") && (text.match(/\)/g) || []).length > (text.match(/\(/g) || []).length) text = text.slice(0, -1);
    else return text;
  }
}

export function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(ADDRESS)) {
    const address = trim(match[0]);
    let url;
    try {
      url = new URL(address);
    } catch {
      continue;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, address));
    last = match.index + address.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
