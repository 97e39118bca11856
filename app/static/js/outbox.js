// The outbox: messages typed but not yet stored by the server. They are kept in localStorage
// (per user), so a reload, a lost connection or a server restart loses nothing, and sent one at
// a time, oldest first, each with its clientMessageId: a retry of a send that was stored answers
// 200 with the first message, so nothing arrives twice. A refused one (402, 409, 4xx) stays in
// place with its reason until the person retries, edits or discards it; later messages of the
// same chat wait behind it, so that nothing arrives out of order.
import { api, ApiError } from "./api.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const SEND_TIMEOUT_MS = 15000; // an answer that never comes is retried like a lost one

// Worth trying again by itself: no answer, a server restarting or overloaded, too fast, or a
// login that api() is already taking the page to.
function transient(error) {
  if (!(error instanceof ApiError)) return false;
  return [0, 401, 429, 502, 503, 504].includes(error.status);
}

function bodyOf(item) {
  const body = { conversationId: item.conversationId, content: item.content, clientMessageId: item.clientMessageId, maxCost: item.maxCost };
  // Without the key the chat's timer applies; null never expires; a number is that.
  if (!item.chatTimer) body.expirationHours = item.expirationHours;
  if (item.attachmentIds && item.attachmentIds.length) body.attachmentIds = item.attachmentIds;
  return body;
}

export class Outbox {
  constructor({ userId }) {
    this.key = `outbox:${userId}`;
    this.lockName = `outbox-send:${userId}`;
    this.sentListeners = [];
    this.changeListeners = [];
    this.refusedListeners = [];
    this.running = false;
    this.again = false;
    this.timer = null;
    this.attempt = 0;
    // Another tab of the same user changed the outbox (queued, sent or discarded).
    window.addEventListener("storage", (event) => {
      if (event.key === this.key) this.changed();
    });
    window.addEventListener("online", () => this.kick());
  }

  onSent(listener) {
    this.sentListeners.push(listener);
  }

  onRefused(listener) {
    this.refusedListeners.push(listener);
  }

  onChange(listener) {
    this.changeListeners.push(listener);
  }

  changed() {
    for (const listener of this.changeListeners) listener();
  }

  items() {
    try {
      const items = JSON.parse(localStorage.getItem(this.key) || "[]");
      return Array.isArray(items) ? items : [];
    } catch {
      return [];
    }
  }

  save(items) {
    if (items.length) localStorage.setItem(this.key, JSON.stringify(items));
    else localStorage.removeItem(this.key);
    this.changed();
  }

  of(conversationId) {
    return this.items().filter((item) => item.conversationId === conversationId);
  }

  // How many messages are waiting to go out (they will use free slots before this one).
  waiting() {
    return this.items().filter((item) => item.state !== "failed").length;
  }

  add(draft) {
    const items = this.items();
    items.push({ ...draft, state: "pending", error: null, queuedAt: new Date().toISOString() });
    this.save(items); // written before anything is sent: a reload from here on loses nothing
    this.kick();
  }

  patch(clientMessageId, changes) {
    const items = this.items();
    const item = items.find((candidate) => candidate.clientMessageId === clientMessageId);
    if (!item) return;
    Object.assign(item, changes);
    this.save(items);
  }

  take(clientMessageId) {
    const items = this.items();
    const item = items.find((candidate) => candidate.clientMessageId === clientMessageId);
    this.save(items.filter((candidate) => candidate !== item));
    return item || null;
  }

  // Retry a refused message: as it was, or (cost_exceeds_max, insufficient_points) agreeing to the price it was refused at.
  retry(clientMessageId) {
    const item = this.items().find((candidate) => candidate.clientMessageId === clientMessageId);
    if (!item) return;
    const error = item.error || {};
    const agreed = Math.max(item.maxCost || 0, Number(error.cost || error.required || 0));
    this.patch(clientMessageId, { state: "pending", error: null, maxCost: agreed });
    this.kick();
  }

  discard(clientMessageId) {
    const item = this.take(clientMessageId);
    this.kick(); // what waited behind it goes now
    return item;
  }

  // The first message that may go now: pending, and no refused one before it in its chat.
  next() {
    const blocked = new Set();
    for (const item of this.items()) {
      if (item.state === "failed") blocked.add(item.conversationId);
      else if (!blocked.has(item.conversationId)) return item;
    }
    return null;
  }

  // Send now (after a reconnect, back online, or something new queued), forgetting the backoff.
  kick() {
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.run();
  }

  async run() {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      // One tab of the user sends at a time; the others find the outbox emptied.
      if (navigator.locks) await navigator.locks.request(this.lockName, () => this.drain());
      else await this.drain();
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.run();
      }
    }
  }

  async drain() {
    for (;;) {
      if (this.timer) return; // waiting out a backoff
      const item = this.next();
      if (!item) return;
      let data;
      try {
        ({ data } = await api("POST", "/api/messages/send", bodyOf(item), { timeoutMs: SEND_TIMEOUT_MS }));
      } catch (error) {
        if (transient(error)) {
          this.patch(item.clientMessageId, { state: "pending", error: { code: error.code, status: error.status, message: error.message }, waiting: true });
          const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
          const retryAfter = Number(error.details && error.details.retryAfter) * 1000;
          this.attempt += 1;
          this.timer = setTimeout(() => {
            this.timer = null;
            this.run();
          }, Math.max(delay, retryAfter || 0));
          return;
        }
        this.patch(item.clientMessageId, { state: "failed", waiting: false, error: { code: error.code, status: error.status, message: error.message, ...(error.details || {}) } });
        for (const listener of this.refusedListeners) listener(error);
        continue;
      }
      this.attempt = 0;
      this.take(item.clientMessageId);
      for (const listener of this.sentListeners) listener(data, item);
    }
  }
}

// Why a message was not sent, for people.
export function reason(error) {
  if (!error) return "";
  switch (error.code) {
    case "insufficient_points":
      return `Not sent: this message costs ${error.required} points and you have ${error.balance}. Your free messages for today are used up.`;
    case "cost_exceeds_max":
      return `Not sent: the price changed, this message now costs ${error.cost} points.`;
    case "rate_limited":
      return "Sending too fast; waiting a moment…";
    case "network_error":
      return "Waiting for the connection…";
    default:
      if (error.status >= 500 && error.status !== 500) return "The server is restarting; waiting…";
      if (error.status >= 500) return "Not sent: the server failed.";
      return `Not sent: ${error.message || "refused by the server"}.`.replace(/\.\.$/, ".");
  }
}
