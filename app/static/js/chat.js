// The chat view: history with older pages on scroll up, live messages, receipts, typing, expiry.
import { api, query } from "./api.js";
import { byId, h, setText } from "./dom.js";
import { at, formatDateTime, formatTime } from "./time.js";

const PAGE = 50;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_IDLE_MS = 3000;
const TYPING_SHOW_MS = 5000;

function order(a, b) {
  return a.createdAt === b.createdAt ? a.id.localeCompare(b.id) : a.createdAt.localeCompare(b.createdAt);
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
    this.messages = new Map();
    this.expiry = new Map();
    this.hasOlder = false;
    this.loadingOlder = false;
    this.list = byId("messages");
    this.scroller = byId("message-scroller");
    this.typingTimer = null;
    this.typingSentAt = 0;
    this.typingIdle = null;
    this.names = new Map();
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
    let after = this.newestId();
    for (let page = 0; page < 100; page += 1) {
      const params = after ? { conversationId: this.conversationId, after, limit: 100 } : { conversationId: this.conversationId, limit: PAGE };
      const { data } = await api("GET", `/api/messages?${query(params)}`);
      this.merge(data.messages);
      if (!after || !data.hasMore || !data.messages.length) break;
      after = data.messages[data.messages.length - 1].id;
    }
    const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, limit: PAGE })}`);
    this.merge(data.messages);
    this.scrollToBottom();
    this.markReadIfVisible();
  }

  newestId() {
    const all = [...this.messages.values()].sort(order);
    return all.length ? all[all.length - 1].id : null;
  }

  oldestId() {
    const all = [...this.messages.values()].sort(order);
    return all.length ? all[0].id : null;
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

  // Add or update messages (by id, so nothing ever shows twice) and re-render in order.
  merge(messages) {
    for (const message of messages) {
      if (message.conversationId !== this.conversationId) continue;
      if (message.expiresAt && new Date(message.expiresAt).getTime() <= Date.now()) continue;
      const known = this.messages.get(message.id);
      this.messages.set(message.id, known ? { ...known, ...message } : message);
      if (message.expiresAt && !this.expiry.has(message.id)) {
        this.expiry.set(message.id, at(message.expiresAt, () => this.remove(message.id)));
      }
    }
    this.render();
  }

  remove(id) {
    this.messages.delete(id);
    this.expiry.delete(id);
    const element = this.list.querySelector(`li[data-message-id="${CSS.escape(id)}"]`);
    if (element) element.remove();
    this.renderHistoryState();
  }

  render() {
    const sorted = [...this.messages.values()].sort(order);
    const existing = new Map([...this.list.children].map((li) => [li.dataset.messageId, li]));
    const fresh = sorted.map((message) => {
      const element = this.renderMessage(message);
      const old = existing.get(message.id);
      if (old && old.dataset.signature === element.dataset.signature) return old;
      return element;
    });
    this.list.replaceChildren(...fresh);
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
    element.dataset.signature = `${status}|${message.content.length}|${message.expiresAt}`;
    return element;
  }

  // Socket events.
  messageArrived(message) {
    if (message.conversationId !== this.conversationId) return;
    const stick = this.isNearBottom() || message.senderId === this.me.id;
    this.merge([message]);
    if (stick) this.scrollToBottom();
    if (message.senderId !== this.me.id) {
      this.hideTyping();
      this.markReadIfVisible();
    }
  }

  receipts(payload, field) {
    if (payload.conversationId !== this.conversationId) return;
    const updates = [];
    for (const id of payload.messageIds) {
      const message = this.messages.get(id);
      if (!message) continue;
      if (field === "read") updates.push({ ...message, isRead: true, readAt: payload.readAt, deliveredAt: message.deliveredAt || payload.readAt });
      else updates.push({ ...message, deliveredAt: message.deliveredAt || payload.deliveredAt });
    }
    if (updates.length) this.merge(updates);
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
