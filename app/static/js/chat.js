// The chat view: history with older pages on scroll up, live messages, receipts, typing, expiry.
import { api, query } from "./api.js";
import { byId, h, setText } from "./dom.js";
import { at, formatDateTime, formatTime } from "./time.js";

const PAGE = 50;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_IDLE_MS = 3000;
const TYPING_SHOW_MS = 5000;

// A conversation's messages in commit order: seq 1, 2, 3, ... (the server's order too).
function order(a, b) {
  return a.seq - b.seq;
}

// Where `item` goes in `sorted` (ascending by `order`): the index of the first later element.
function insertionIndex(sorted, item) {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (order(sorted[middle], item) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

function statusOf(message) {
  if (message.readAt || message.isRead) return "read";
  if (message.deliveredAt) return "delivered";
  return "sent";
}

export class ChatView {
  constructor({ conversationId, me, socket, onRead }) {
    this.conversationId = conversationId;
    this.me = me;
    this.socket = socket;
    this.onRead = onRead;
    this.messages = new Map(); // id -> message (the stored copy, updated in place)
    this.sorted = []; // the same messages, oldest first: the order of the list's <li>s
    this.elements = new Map(); // id -> its <li>
    this.expiry = new Map();
    this.hasOlder = false;
    this.loadingOlder = false;
    this.list = byId("messages");
    this.scroller = byId("message-scroller");
    this.typingTimer = null;
    this.typingSentAt = 0;
    this.typingIdle = null;
    this.names = new Map();
    this.filling = null;
  }

  setParticipants(conversation) {
    for (const p of conversation.participants) this.names.set(p.id, p.displayName);
  }

  async load() {
    const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, limit: PAGE })}`);
    this.merge(data.messages);
    this.hasOlder = data.hasMore;
    this.renderHistoryState();
    this.scrollToBottom();
    this.bindScroll();
    this.markReadIfVisible();
    document.addEventListener("visibilitychange", () => this.markReadIfVisible());
    window.addEventListener("focus", () => this.markReadIfVisible());
  }

  // After a reconnect: everything after the newest message we have, then fresh receipts.
  async catchUp() {
    const newest = this.newestId();
    if (newest) await this.fillGap(newest);
    const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, limit: PAGE })}`);
    this.merge(data.messages);
    this.scrollToBottom();
    this.markReadIfVisible();
  }

  // Everything committed after `afterId`, page by page: after a reconnect, or when a
  // message arrived with a seq beyond the next one (two sends can emit in either order;
  // an expired message's seq is simply not found).
  fillGap(afterId) {
    if (this.filling) return this.filling;
    this.filling = (async () => {
      try {
        let after = afterId;
        for (let page = 0; page < 100; page += 1) {
          const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, after, limit: 100 })}`);
          this.merge(data.messages);
          if (!data.hasMore || !data.messages.length) break;
          after = data.messages[data.messages.length - 1].id;
        }
      } finally {
        this.filling = null;
      }
    })();
    return this.filling;
  }

  newestId() {
    return this.sorted.length ? this.sorted[this.sorted.length - 1].id : null;
  }

  oldestId() {
    return this.sorted.length ? this.sorted[0].id : null;
  }

  bindScroll() {
    this.scroller.addEventListener("scroll", () => {
      if (this.scroller.scrollTop < 80) this.loadOlder();
    });
  }

  async loadOlder() {
    if (!this.hasOlder || this.loadingOlder) return;
    this.loadingOlder = true;
    this.renderHistoryState();
    const before = this.oldestId();
    const heightBefore = this.scroller.scrollHeight;
    try {
      const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, before, limit: PAGE })}`);
      this.merge(data.messages);
      this.hasOlder = data.hasMore;
      this.scroller.scrollTop += this.scroller.scrollHeight - heightBefore;
    } finally {
      this.loadingOlder = false;
      this.renderHistoryState();
    }
  }

  renderHistoryState() {
    const text = this.loadingOlder ? "Loading older messages…" : this.hasOlder ? "Scroll up for older messages" : this.messages.size ? "Start of the conversation" : "No messages yet. Say hello!";
    setText(byId("history-state"), text);
  }

  isNearBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 120;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  // Add or update messages by id (so nothing ever shows twice), touching only their bubbles.
  merge(messages) {
    for (const message of messages) {
      if (message.conversationId !== this.conversationId) continue;
      if (message.expiresAt && new Date(message.expiresAt).getTime() <= Date.now()) continue;
      const known = this.messages.get(message.id);
      if (known) this.update(known, message);
      else this.insert({ ...message });
      if (message.expiresAt && !this.expiry.has(message.id)) {
        const cancel = at(message.expiresAt, () => this.remove(message.id));
        if (this.messages.has(message.id)) this.expiry.set(message.id, cancel);
      }
    }
    this.renderHistoryState();
  }

  // A new message: its bubble goes in its place, nearly always after the newest or before the oldest.
  insert(message) {
    const count = this.sorted.length;
    let index;
    if (!count || order(this.sorted[count - 1], message) < 0) index = count;
    else if (order(message, this.sorted[0]) < 0) index = 0;
    else index = insertionIndex(this.sorted, message);
    const element = this.renderMessage(message);
    const next = this.sorted[index];
    this.list.insertBefore(element, next ? this.elements.get(next.id) : null);
    this.sorted.splice(index, 0, message);
    this.messages.set(message.id, message);
    this.elements.set(message.id, element);
  }

  // New fields for a known message; its bubble is rebuilt only when what it shows changed.
  update(known, changes) {
    Object.assign(known, changes);
    const old = this.elements.get(known.id);
    if (old.dataset.signature === this.signature(known)) return;
    const element = this.renderMessage(known);
    old.replaceWith(element);
    this.elements.set(known.id, element);
  }

  remove(id) {
    const message = this.messages.get(id);
    this.messages.delete(id);
    this.expiry.delete(id);
    if (message) {
      const index = insertionIndex(this.sorted, message);
      if (this.sorted[index] === message) this.sorted.splice(index, 1);
    }
    const element = this.elements.get(id);
    this.elements.delete(id);
    if (element) element.remove();
    this.renderHistoryState();
  }

  renderMessage(message) {
    const mine = message.senderId === this.me.id;
    const status = mine ? statusOf(message) : null;
    const meta = h("span", { className: "message-meta" }, h("time", { datetime: message.createdAt }, formatTime(message.createdAt)));
    if (message.expiresAt) {
      meta.append(h("span", { className: "expiry-mark", title: `Disappears ${formatDateTime(message.expiresAt)}`, "aria-label": `Disappears ${formatDateTime(message.expiresAt)}`, role: "img" }));
    }
    if (status) meta.append(h("span", { className: `message-status status-${status}` }, status));
    const element = h(
      "li",
      { className: `message ${mine ? "mine" : "theirs"}`, dataset: { messageId: message.id, mine: String(mine) } },
      h("p", { className: "message-text" }, message.content),
      meta,
    );
    element.dataset.signature = this.signature(message);
    return element;
  }

  // What a bubble shows that can change: a different signature means a rebuilt bubble.
  signature(message) {
    const status = message.senderId === this.me.id ? statusOf(message) : null;
    return `${status}|${message.content.length}|${message.expiresAt}`;
  }

  // Socket events.
  messageArrived(message) {
    if (message.conversationId !== this.conversationId) return;
    const stick = this.isNearBottom() || message.senderId === this.me.id;
    const newest = this.sorted[this.sorted.length - 1];
    if (newest && message.seq > newest.seq + 1) this.fillGap(newest.id);
    this.merge([message]);
    if (stick) this.scrollToBottom();
    if (message.senderId !== this.me.id) {
      this.hideTyping();
      this.markReadIfVisible();
    }
  }

  // A read or delivered receipt: only the bubbles it names change (their status mark).
  receipts(payload, field) {
    if (payload.conversationId !== this.conversationId) return;
    for (const id of payload.messageIds) {
      const message = this.messages.get(id);
      if (!message) continue;
      if (field === "read") this.update(message, { isRead: true, readAt: payload.readAt, deliveredAt: message.deliveredAt || payload.readAt });
      else this.update(message, { deliveredAt: message.deliveredAt || payload.deliveredAt });
    }
  }

  visible() {
    return document.visibilityState === "visible";
  }

  async markReadIfVisible() {
    if (!this.visible()) return;
    const unread = [...this.messages.values()].some((m) => m.senderId !== this.me.id && !m.isRead);
    if (!unread) return;
    try {
      await api("POST", "/api/messages/read", { conversationId: this.conversationId });
      for (const message of this.messages.values()) if (message.senderId !== this.me.id) message.isRead = true;
      this.onRead(this.conversationId);
    } catch {
      // Not fatal: the next visibility change or message tries again.
    }
  }

  // Typing: tell the other side at most every 2 s, and that we stopped after 3 s idle.
  userTyped() {
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_SEND_EVERY_MS) {
      this.typingSentAt = now;
      this.socket.emit("typing", { conversationId: this.conversationId, isTyping: true });
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stoppedTyping(), TYPING_IDLE_MS);
  }

  stoppedTyping() {
    clearTimeout(this.typingIdle);
    if (this.typingSentAt) {
      this.typingSentAt = 0;
      this.socket.emit("typing", { conversationId: this.conversationId, isTyping: false });
    }
  }

  typing(payload) {
    if (payload.conversationId !== this.conversationId || payload.userId === this.me.id) return;
    if (!payload.isTyping) {
      this.hideTyping();
      return;
    }
    const indicator = byId("typing-indicator");
    setText(indicator, `${this.names.get(payload.userId) || "Someone"} is typing…`);
    indicator.hidden = false;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.hideTyping(), TYPING_SHOW_MS);
  }

  hideTyping() {
    clearTimeout(this.typingTimer);
    byId("typing-indicator").hidden = true;
  }
}
