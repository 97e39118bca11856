// The chat view: history with older pages on scroll up (and newer ones on scroll down when
// opened at a search result), live messages, receipts, typing, expiry.
import { api, query } from "./api.js";
import { byId, h, setText } from "./dom.js";
import { at, formatDateTime, formatTime } from "./time.js";

const PAGE = 50;
const AROUND = 25; // messages on either side of the one a search result opens
const HIGHLIGHT_MS = 5000;
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
    this.hasNewer = false; // opened in the middle (at a search result): newer pages load on scroll down
    this.loadingNewer = false;
    this.liveWhileBehind = false;
    this.highlightId = null;
    this.highlightTimer = null;
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

  // The newest page, or (`around`: a message id) that message with its neighbours, scrolled to
  // and highlighted for a moment. A message that is gone (expired) opens the newest page.
  async load({ around } = {}) {
    const opened = around ? await this.loadAround(around) : false;
    if (!opened) {
      const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, limit: PAGE })}`);
      this.merge(data.messages);
      this.hasOlder = data.hasMore;
      this.renderHistoryState();
      this.scrollToBottom();
    }
    this.bindScroll();
    byId("jump-latest").addEventListener("click", () => this.jumpToLatest().catch(() => {}));
    this.markReadIfVisible();
    document.addEventListener("visibilitychange", () => this.markReadIfVisible());
    window.addEventListener("focus", () => this.markReadIfVisible());
  }

  async loadAround(messageId) {
    let data;
    try {
      ({ data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, around: messageId, limit: AROUND })}`));
    } catch (error) {
      if (error.status !== 400 && error.status !== 404) throw error;
      return false; // not a message of this chat (any more)
    }
    this.merge(data.messages);
    const element = this.elements.get(messageId);
    if (!element) {
      this.clear(); // expired in the meantime: the newest page instead, without a gap
      return false;
    }
    this.hasOlder = Boolean(data.hasMoreBefore);
    this.hasNewer = Boolean(data.hasMoreAfter);
    this.renderHistoryState();
    this.highlight(messageId);
    element.scrollIntoView({ block: "center" });
    return true;
  }

  highlight(messageId) {
    this.highlightId = messageId;
    const element = this.elements.get(messageId);
    if (element) element.classList.add("highlight");
    clearTimeout(this.highlightTimer);
    this.highlightTimer = setTimeout(() => {
      this.highlightId = null;
      const shown = this.elements.get(messageId);
      if (shown) shown.classList.remove("highlight");
    }, HIGHLIGHT_MS);
  }

  // After a reconnect: everything after the newest message we have, then fresh receipts.
  // Opened in the middle, the newer pages load on scroll down instead.
  async catchUp() {
    if (this.hasNewer) return;
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
      if (this.hasNewer && this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80) {
        this.loadNewer().catch(() => {}); // the next scroll tries again
      }
    });
  }

  // Opened in the middle: the next page after the newest message shown.
  async loadNewer() {
    if (!this.hasNewer || this.loadingNewer) return;
    this.loadingNewer = true;
    this.renderHistoryState();
    try {
      const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, after: this.newestId(), limit: PAGE })}`);
      this.merge(data.messages);
      this.hasNewer = data.hasMore && data.messages.length > 0;
      if (!this.hasNewer && this.liveWhileBehind) {
        // A message that arrived while we were behind may have committed after that page.
        this.liveWhileBehind = false;
        await this.fillGap(this.newestId());
      }
    } finally {
      this.loadingNewer = false;
      this.renderHistoryState();
    }
  }

  // Leave the middle of the history for the newest page (a button, or sending a message).
  async jumpToLatest() {
    const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, limit: PAGE })}`);
    this.clear();
    this.merge(data.messages);
    this.hasOlder = data.hasMore;
    this.renderHistoryState();
    this.scrollToBottom();
    this.markReadIfVisible();
  }

  // Forget every message shown (before showing another stretch of the history).
  clear() {
    for (const cancel of this.expiry.values()) cancel();
    this.expiry.clear();
    this.messages.clear();
    this.elements.clear();
    this.sorted = [];
    this.list.replaceChildren();
    this.hasNewer = false;
    this.liveWhileBehind = false;
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
    byId("newer-state").hidden = !this.hasNewer;
    byId("newer-loading").hidden = !this.loadingNewer;
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
    const highlighted = message.id === this.highlightId ? " highlight" : "";
    const element = h(
      "li",
      { className: `message ${mine ? "mine" : "theirs"}${highlighted}`, dataset: { messageId: message.id, mine: String(mine) } },
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
    if (this.hasNewer && !this.messages.has(message.id)) {
      // Opened in the middle: a new message belongs after pages not loaded yet. Our own
      // brings us to the newest page; someone else's waits for the scroll down.
      if (message.senderId === this.me.id) {
        this.jumpToLatest()
          .then(() => this.merge([message]))
          .catch(() => {});
      }
      else {
        this.liveWhileBehind = true;
        this.hideTyping();
        this.markReadIfVisible();
      }
      return;
    }
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

  // The join ack says who is typing in this chat right now (so a reload shows it at once).
  joined(ack) {
    if (!ack || !ack.ok || !Array.isArray(ack.typing)) return;
    for (const userId of ack.typing) this.typing({ conversationId: this.conversationId, userId, isTyping: true });
  }

  hideTyping() {
    clearTimeout(this.typingTimer);
    byId("typing-indicator").hidden = true;
  }
}
