// The chat view: history with older pages on scroll up (and newer ones on scroll down when
// opened at a search result), live messages, receipts, typing, expiry.
import { api, query } from "./api.js";
import { renderAttachments } from "./attachment_view.js";
import { personLabel } from "./conversations.js";
import { byId, h, setText } from "./dom.js";
import { linkify } from "./links.js";
import { reason } from "./outbox.js";
import { at, dayKey, dayLabel, formatClock, formatFull, formatWhen, onNewDay } from "./time.js";

const PAGE = 50;
const AROUND = 25; // messages on either side of the one a search result opens
const HIGHLIGHT_MS = 5000;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_IDLE_MS = 3000;
const TYPING_SHOW_MS = 5000;
const GROUP_MS = 5 * 60 * 1000; // one sender's messages this close together form a group
const READ_DELAY_MS = 250; // reads of bubbles that came on screen together go in one request
const SEEN_SHARE = 0.6; // seen: this much of a bubble on screen, or of the scroller filled by a taller one
// Ratios a factor SEEN_SHARE apart (down to a bubble ~700 scrollers tall): whatever a bubble's
// height, one of them is crossed while it fills 60-100% of what it can of the scroller.
const SEEN_THRESHOLDS = [0, ...Array.from({ length: 14 }, (_, k) => SEEN_SHARE ** (13 - k))];
const UNREAD_PAGES = 20; // older pages the "first unread" jump loads at most to find it

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

// A bubble counts as seen when most of it is on screen or, taller than the scroller, when it
// fills most of the scroller; a sliver at an edge is not seen.
function seenEnough(entry) {
  if (!entry.isIntersecting) return false;
  if (entry.intersectionRatio >= SEEN_SHARE) return true;
  return Boolean(entry.rootBounds) && entry.intersectionRect.height >= SEEN_SHARE * entry.rootBounds.height;
}

// When a disappearing message goes, with the day unless it is today (a message may last a week).
function disappears(message) {
  return `Disappears ${formatWhen(message.expiresAt)}`;
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
    this.people = new Map(); // id -> participant (display name and username)
    this.filling = null;
    this.clientIds = new Set(); // clientMessageIds of the messages shown: their outbox bubbles go
    this.outboxActions = null;
    this.firstUnreadId = null; // the unread divider goes before it (set when the chat opens)
    this.unreadAbove = false; // older pages than those loaded may hold earlier unread messages
    this.olderLoad = null; // the older page being loaded
    this.timeStopId = null; // the message whose time is the chat's one Tab stop among the times
    this.newBelow = 0; // messages that arrived while scrolled up
    // Read only when seen: others' unread bubbles seen (in a visible tab) are marked read.
    this.onScreen = new Set();
    this.readTimer = null;
    this.reading = false;
    this.seen = new IntersectionObserver((entries) => this.sighted(entries), { root: this.scroller, threshold: SEEN_THRESHOLDS });
  }

  setParticipants(conversation) {
    for (const p of conversation.participants) this.people.set(p.id, p);
  }

  // The newest page, or (`around`: a message id) that message with its neighbours, scrolled to
  // and highlighted for a moment. A message that is gone (expired) opens the newest page.
  async load({ around } = {}) {
    const opened = around ? await this.loadAround(around) : false;
    if (!opened) {
      const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, limit: PAGE })}`);
      const unread = data.messages.find((m) => this.isUnread(m));
      this.firstUnreadId = unread ? unread.id : null;
      this.unreadAbove = data.hasMore && this.unreadFromStart(data.messages);
      this.merge(data.messages);
      this.hasOlder = data.hasMore;
      this.renderHistoryState();
      this.scrollToBottom(); // at the latest; "first unread" jumps up to the divider when it is above
    }
    this.bindScroll();
    byId("jump-latest").addEventListener("click", () => this.jumpToLatest().catch(() => {}));
    byId("new-messages").addEventListener("click", () => {
      this.scrollToBottom();
      this.showNewBelow(0);
    });
    byId("jump-unread").addEventListener("click", () => this.jumpToFirstUnread().catch(() => {}));
    this.renderScrollActions();
    this.markReadIfVisible();
    document.addEventListener("visibilitychange", () => this.markReadIfVisible());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closeFullTimes();
    });
    this.list.addEventListener("keydown", (event) => this.timeKey(event));
    this.list.addEventListener("focusin", (event) => {
      if (event.target.classList.contains("message-time")) this.setTimeStop(event.target.closest("li.message").dataset.messageId);
    });
    onNewDay(() => this.refreshDays());
  }

  // "First unread message": older pages first while they may hold earlier unread ones (at
  // most UNREAD_PAGES: more unread than a page are loaded when asked for, not at open), then
  // the divider scrolled into view.
  async jumpToFirstUnread() {
    for (let page = 0; page < UNREAD_PAGES && this.unreadAbove && this.hasOlder; page += 1) await this.loadOlder();
    const divider = this.list.querySelector(":scope > li.unread-divider");
    if (divider) this.scroller.scrollTop = divider.offsetTop - 8;
    this.renderScrollActions();
  }

  isUnread(message) {
    return message.senderId !== this.me.id && !message.isRead;
  }

  // Whether the oldest of others' messages in `messages` is unread (older ones may be too).
  unreadFromStart(messages) {
    const first = messages.find((m) => m.senderId !== this.me.id);
    return Boolean(first) && !first.isRead;
  }

  // An older page beyond those loaded at open: the divider moves up to an earlier unread.
  extendUnread(older) {
    if (!this.unreadAbove) return;
    const unread = older.find((m) => this.isUnread(m));
    if (unread) this.firstUnreadId = unread.id;
    this.unreadAbove = this.unreadFromStart(older);
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
      this.renderScrollActions();
      if (this.scroller.scrollTop < 80) this.loadOlder().catch(() => {});
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
    for (const li of [...this.list.children]) if (!li.classList.contains("pending")) li.remove();
    this.seen.disconnect();
    this.onScreen.clear();
    this.clientIds.clear();
    this.hasNewer = false;
    this.liveWhileBehind = false;
    this.unreadAbove = false;
  }

  // One older page at a time: a call while one is loading waits for that one.
  loadOlder() {
    if (!this.hasOlder) return Promise.resolve();
    if (!this.olderLoad) this.olderLoad = this.fetchOlder().finally(() => (this.olderLoad = null));
    return this.olderLoad;
  }

  async fetchOlder() {
    this.loadingOlder = true;
    this.renderHistoryState();
    const before = this.oldestId();
    const heightBefore = this.scroller.scrollHeight;
    try {
      const { data } = await api("GET", `/api/messages?${query({ conversationId: this.conversationId, before, limit: PAGE })}`);
      this.extendUnread(data.messages);
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

  // The "new messages (n)" button while scrolled up, the "first unread" one while it is above.
  showNewBelow(count) {
    this.newBelow = count;
    setText(byId("new-messages").querySelector("[data-testid=new-count]"), String(count));
    byId("new-messages").hidden = count === 0;
  }

  renderScrollActions() {
    if (this.newBelow && this.isNearBottom()) this.showNewBelow(0);
    const divider = this.list.querySelector(":scope > li.unread-divider");
    const above = Boolean(divider) && divider.offsetTop + divider.offsetHeight < this.scroller.scrollTop;
    byId("jump-unread").hidden = !(above || (divider && this.unreadAbove));
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
    this.decorate();
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
    // Messages still in the outbox stay last, after every stored one.
    this.list.insertBefore(element, next ? this.elements.get(next.id) : this.list.querySelector(":scope > li.pending"));
    this.sorted.splice(index, 0, message);
    this.messages.set(message.id, message);
    this.elements.set(message.id, element);
    this.watch(message, element);
    if (message.clientMessageId) {
      this.clientIds.add(message.clientMessageId);
      const pending = this.pendingElement(message.clientMessageId);
      if (pending) pending.remove();
    }
  }

  pendingElement(clientMessageId) {
    return [...this.list.querySelectorAll(":scope > li.pending")].find((li) => li.dataset.clientMessageId === clientMessageId) || null;
  }

  // The outbox's messages of this chat, after the stored ones: "sending", or refused with
  // the reason and what can be done (retry, edit, discard).
  showOutbox(items, actions) {
    this.outboxActions = actions;
    const stick = this.isNearBottom();
    const count = items.filter((item) => item.conversationId === this.conversationId).length;
    const added = count > (this.outboxCount || 0);
    this.outboxCount = count;
    const focused = document.activeElement && document.activeElement.closest("li.pending");
    const refocus = focused ? [focused.dataset.clientMessageId, document.activeElement.dataset.action] : null;
    for (const li of this.list.querySelectorAll(":scope > li.pending")) li.remove();
    for (const item of items) {
      if (item.conversationId !== this.conversationId || this.clientIds.has(item.clientMessageId)) continue;
      this.list.append(this.renderPending(item));
    }
    if (refocus) {
      const again = this.pendingElement(refocus[0]);
      const button = again && again.querySelector(`button[data-action="${refocus[1]}"]`);
      if (button) button.focus();
    }
    if (stick || added) this.scrollToBottom(); // one's own new message is always shown
    this.renderHistoryState();
  }

  renderPending(item) {
    const failed = item.state === "failed";
    const label = failed ? "not sent" : item.error ? "waiting" : "sending";
    const element = h(
      "li",
      { className: `message mine pending${failed ? " failed" : ""}`, dataset: { clientMessageId: item.clientMessageId, state: item.state } },
      h("p", { className: "message-text" }, item.content),
      renderAttachments(item.attachments),
      h("span", { className: "message-meta" }, h("span", { className: `message-status status-${failed ? "failed" : "sending"}` }, label)),
    );
    if (item.error) element.append(h("p", { className: "outbox-reason", role: failed ? "alert" : "status" }, reason(item.error)));
    if (failed) {
      const act = (name) => () => this.outboxActions && this.outboxActions[name](item.clientMessageId);
      const price = Number(item.error.cost || item.error.required || 0);
      const retryLabel = price && (item.error.code === "cost_exceeds_max" || item.error.code === "insufficient_points") ? `Send for ${price} points` : "Retry";
      element.append(
        h(
          "div",
          { className: "outbox-actions" },
          h("button", { type: "button", className: "outbox-action", dataset: { action: "retry" }, onClick: act("retry") }, retryLabel),
          h("button", { type: "button", className: "outbox-action", dataset: { action: "edit" }, onClick: act("edit") }, "Edit"),
          h("button", { type: "button", className: "outbox-action", dataset: { action: "discard" }, onClick: act("discard") }, "Discard"),
        ),
      );
    }
    return element;
  }

  // New fields for a known message; its bubble is rebuilt only when what it shows changed.
  update(known, changes) {
    Object.assign(known, changes);
    const old = this.elements.get(known.id);
    if (old.dataset.signature === this.signature(known)) return;
    const element = this.renderMessage(known);
    this.seen.unobserve(old);
    element.className = old.className; // keeps its place in a group
    const open = old.querySelector(".message-time[aria-expanded=true]");
    const focused = document.activeElement === old.querySelector(".message-time");
    old.replaceWith(element);
    this.elements.set(known.id, element);
    this.watch(known, element);
    const time = element.querySelector(".message-time");
    if (open) this.toggleFullTime(time, true);
    if (focused) time.focus();
  }

  // The full date and time under a bubble, shown by a tap or click on its time (hidden by a
  // second one, or Escape); one at a time.
  toggleFullTime(button, open = button.getAttribute("aria-expanded") !== "true") {
    const stick = this.isNearBottom();
    if (open) this.closeFullTimes();
    button.setAttribute("aria-expanded", String(open));
    document.getElementById(button.getAttribute("aria-controls")).hidden = !open;
    if (stick) this.scrollToBottom();
  }

  closeFullTimes() {
    for (const button of this.list.querySelectorAll(".message-time[aria-expanded=true]")) this.toggleFullTime(button, false);
  }

  // The messages' times are one Tab stop (the one last focused, else the newest's), and the
  // arrow keys, Home and End move between them: a long chat is not one stop per message
  // between the header and the composer.
  timeStop() {
    if (this.elements.has(this.timeStopId)) return this.timeStopId;
    return this.sorted.length ? this.sorted[this.sorted.length - 1].id : null;
  }

  setTimeStop(id) {
    const previous = this.elements.get(this.timeStop());
    if (previous) previous.querySelector(".message-time").tabIndex = -1;
    this.timeStopId = id;
    const current = this.elements.get(id);
    if (current) current.querySelector(".message-time").tabIndex = 0;
  }

  timeKey(event) {
    if (!event.target.classList.contains("message-time")) return;
    const index = this.sorted.findIndex((m) => m.id === event.target.closest("li.message").dataset.messageId);
    const last = this.sorted.length - 1;
    const moves = { ArrowUp: index - 1, ArrowDown: index + 1, Home: 0, End: last };
    if (!(event.key in moves) || index < 0) return;
    event.preventDefault();
    const target = this.sorted[Math.max(0, Math.min(last, moves[event.key]))];
    this.elements.get(target.id).querySelector(".message-time").focus(); // focusin moves the stop
  }

  // A new day: "today" and "tomorrow" under disappearing bubbles, and the day separators, move on.
  refreshDays() {
    for (const message of this.sorted) {
      if (!message.expiresAt) continue;
      const when = this.elements.get(message.id).querySelector(".expiry-when");
      setText(when, disappears(message));
    }
    this.decorate();
  }

  // Others' unread bubbles are watched until they have been on screen.
  watch(message, element) {
    if (message.senderId !== this.me.id && !message.isRead) this.seen.observe(element);
  }

  sighted(entries) {
    for (const entry of entries) {
      const id = entry.target.dataset.messageId;
      if (seenEnough(entry)) this.onScreen.add(id);
      else this.onScreen.delete(id);
    }
    this.markReadIfVisible();
  }

  // Separators between days, the unread divider, and one sender's consecutive messages grouped.
  decorate() {
    let previous = null;
    for (const message of this.sorted) {
      const element = this.elements.get(message.id);
      const newDay = !previous || dayKey(previous.createdAt) !== dayKey(message.createdAt);
      const wanted = [];
      if (newDay) wanted.push(["day-separator", dayLabel(message.createdAt)]);
      if (message.id === this.firstUnreadId) wanted.push(["unread-divider", "Unread messages"]);
      const present = [];
      for (let node = element.previousElementSibling; node && node.classList.contains("decoration"); node = node.previousElementSibling) present.unshift(node);
      const same = present.length === wanted.length && present.every((node, i) => node.dataset.kind === wanted[i][0] && node.textContent === wanted[i][1]);
      if (!same) {
        for (const node of present) node.remove();
        for (const [kind, label] of wanted) element.before(h("li", { className: `decoration ${kind}`, dataset: { kind } }, h("span", {}, label)));
      }
      const grouped = Boolean(previous) && !wanted.length && previous.senderId === message.senderId && new Date(message.createdAt) - new Date(previous.createdAt) < GROUP_MS;
      element.classList.toggle("grouped", grouped);
      previous = message;
    }
    const stop = this.timeStop();
    for (const [id, element] of this.elements) element.querySelector(".message-time").tabIndex = id === stop ? 0 : -1;
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
    this.onScreen.delete(id);
    if (element) {
      this.seen.unobserve(element);
      while (element.previousElementSibling && element.previousElementSibling.classList.contains("decoration")) element.previousElementSibling.remove();
      element.remove();
    }
    this.decorate();
    this.renderHistoryState();
  }

  renderMessage(message) {
    const mine = message.senderId === this.me.id;
    const status = mine ? statusOf(message) : null;
    const full = formatFull(message.createdAt);
    const fullId = `full-time-${message.id}`;
    const time = h(
      "button",
      {
        type: "button",
        className: "message-time",
        "aria-expanded": "false",
        "aria-controls": fullId,
        tabindex: message.id === this.timeStop() ? "0" : "-1",
        onMousedown: (event) => event.preventDefault(), // a tap leaves the focus (and the keyboard) where it was
        onClick: (event) => this.toggleFullTime(event.currentTarget),
      },
      h("time", { datetime: message.createdAt, title: full }, formatClock(message.createdAt)),
    );
    const meta = h("span", { className: "message-meta" }, time);
    if (status) meta.append(h("span", { className: `message-status status-${status}` }, status));
    const highlighted = message.id === this.highlightId ? " highlight" : "";
    const element = h(
      "li",
      { className: `message ${mine ? "mine" : "theirs"}${highlighted}`, dataset: { messageId: message.id, mine: String(mine) } },
      h("p", { className: "message-text" }, linkify(message.content)),
      renderAttachments(message.attachments),
    );
    if (message.expiresAt) {
      element.append(
        h("p", { className: "message-expiry", title: `Disappears ${formatFull(message.expiresAt)}` }, h("span", { className: "expiry-mark", "aria-hidden": "true" }), h("span", { className: "expiry-when" }, disappears(message))),
      );
    }
    element.append(meta, h("p", { className: "message-full-time", id: fullId, hidden: true }, full));
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
    const fresh = !this.messages.has(message.id);
    const newest = this.sorted[this.sorted.length - 1];
    if (newest && message.seq > newest.seq + 1) this.fillGap(newest.id);
    this.merge([message]);
    if (stick) this.scrollToBottom();
    else if (fresh && this.messages.has(message.id)) this.showNewBelow(this.newBelow + 1); // the view stays where it is
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

  // Mark read what was on screen in a visible tab (a moment later, in one request).
  markReadIfVisible() {
    if (!this.visible() || this.readTimer) return;
    this.readTimer = setTimeout(() => {
      this.readTimer = null;
      this.sendReads();
    }, READ_DELAY_MS);
  }

  async sendReads() {
    if (!this.visible() || this.reading) return;
    const ids = [...this.onScreen].filter((id) => {
      const message = this.messages.get(id);
      return message && message.senderId !== this.me.id && !message.isRead;
    });
    if (!ids.length) return;
    this.reading = true;
    try {
      await api("POST", "/api/messages/read", { conversationId: this.conversationId, messageIds: ids });
      for (const id of ids) {
        const message = this.messages.get(id);
        if (message) message.isRead = true;
        this.onScreen.delete(id);
        const element = this.elements.get(id);
        if (element) this.seen.unobserve(element);
      }
      const left = [...this.messages.values()].filter((m) => m.senderId !== this.me.id && !m.isRead).length;
      this.onRead(this.conversationId, left);
    } catch {
      // Not fatal: the next sighting or visibility change tries again.
    } finally {
      this.reading = false;
    }
    if ([...this.onScreen].some((id) => this.messages.get(id) && !this.messages.get(id).isRead)) this.markReadIfVisible();
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
    const person = this.people.get(payload.userId);
    const who = person ? personLabel(person, "typing") : document.createTextNode("Someone");
    // The same words are not written again: the indicator is a live region.
    if (indicator.textContent !== `${who.textContent} is typing…`) indicator.replaceChildren(who, " is typing…");
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
