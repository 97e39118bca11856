// The service worker (served at /sw.js, scope /): shows a Web Push as a notification and
// opens the chat when it is clicked. A plain script: no imports, nothing inline.
//
// Payload (JSON): {type: "message", conversationId, messageId, senderName, content?}.
// Nothing in it becomes a URL except a UUID-shaped conversation id, on this origin.
"use strict";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CHAT_PATH = /^\/c\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const NO_CONTENT = "Open the chat to read it.";
const MAX_NAME = 100;
const MAX_BODY = 300;

function clip(text, limit) {
  const chars = Array.from(text.trim());
  return chars.length > limit ? chars.slice(0, limit - 1).join("") + "…" : chars.join("");
}

function chatUrl(conversationId) {
  return new URL("/c/" + conversationId.toLowerCase(), self.location.origin).href;
}

// A URL of this app to open: a chat (/c/<uuid>) or else the list (/), never another origin.
function safeUrl(url) {
  let parsed = null;
  try {
    parsed = new URL(String(url || "/"), self.location.origin);
  } catch {
    parsed = null;
  }
  if (parsed && parsed.origin === self.location.origin) {
    const match = CHAT_PATH.exec(parsed.pathname);
    if (match) return chatUrl(match[1]);
  }
  return new URL("/", self.location.origin).href;
}

// The notification for a push: {title, options}. A payload that cannot be read still shows
// a notification (the subscription promised the browser that every push is visible).
function notificationFor(data) {
  let payload = null;
  try {
    payload = data ? data.json() : null;
  } catch {
    payload = null;
  }
  const valid =
    payload !== null &&
    typeof payload === "object" &&
    payload.type === "message" &&
    typeof payload.conversationId === "string" &&
    UUID.test(payload.conversationId);
  if (!valid) {
    return {
      title: "New message",
      options: { body: NO_CONTENT, tag: "messenger", data: { url: safeUrl("/") } },
    };
  }
  const conversationId = payload.conversationId.toLowerCase();
  const name = typeof payload.senderName === "string" && payload.senderName.trim() ? clip(payload.senderName, MAX_NAME) : "someone";
  const content = typeof payload.content === "string" && payload.content.trim() ? clip(payload.content, MAX_BODY) : "";
  return {
    title: "New message from " + name,
    options: {
      body: content || NO_CONTENT,
      tag: conversationId, // one notification per chat: a later one replaces it
      renotify: true,
      data: { url: chatUrl(conversationId), conversationId },
    },
  };
}

// Focus a window of the app and show the chat there, or open a new window on it.
// Top level so that a test can call it in the worker (a test cannot click a system notification).
async function openChat(url) {
  const target = safeUrl(url);
  const all = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const windows = all.filter((client) => new URL(client.url).origin === self.location.origin);
  const client = windows.find((c) => c.url === target) || windows.find((c) => c.focused) || windows[0];
  if (!client) return self.clients.openWindow(target);
  let shown = client;
  try {
    shown = (await client.focus()) || client;
  } catch {
    // Focusing needs the click's user activation; the window is still navigated.
  }
  if (shown.url === target) return shown;
  try {
    const navigated = await shown.navigate(target);
    if (navigated) return navigated;
  } catch {
    // A window this worker does not control cannot be navigated: open the chat instead.
  }
  return self.clients.openWindow(target);
}

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", (event) => {
  const { title, options } = notificationFor(event.data);
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  event.waitUntil(openChat(url));
});
