// The conversation list (live): the main list, the archived list behind its own entry,
// and each row's archive and mute actions.
import { api } from "./api.js";
import { previewText } from "./attachment_view.js";
import { byId, h, setText } from "./dom.js";
import { at } from "./time.js";
import { avatar } from "./avatar.js";

// How long to wait before asking again about a last message that expired here but was
// still listed by the server.
const EXPIRED_RECHECK_MS = 5000;

export function otherParticipant(conversation, myId) {
  return conversation.participants.find((p) => p.id !== myId) || conversation.participants[0];
}

function activity(conversation) {
  return conversation.lastMessage ? conversation.lastMessage.createdAt : conversation.updatedAt;
}

export class ConversationList {
  constructor({ me, openId, conversationCost }) {
    this.me = me;
    this.openId = openId;
    this.conversationCost = conversationCost;
    this.byId = new Map(); // the conversations of the list shown (main or archived)
    this.known = new Map(); // every conversation seen in either list: search results, the open chat
    this.view = "main"; // or "archived"
    this.counts = { archivedCount: 0, archivedUnreadCount: 0 };
    this.listeners = [];
    this.updateListeners = [];
    this.expiryTimers = new Map();
    this.loadTicket = 0;
    this.countsTimer = null;
    this.statusTimer = null;
  }

  // Listeners called with a conversation whose settings changed (conversation:update, or our PATCH).
  onUpdate(listener) {
    this.updateListeners.push(listener);
  }

  archivedView() {
    return this.view === "archived";
  }

  // Whether a conversation is a row of the list shown.
  belongs(conversation) {
    return Boolean(conversation.archived) === this.archivedView();
  }

  bind() {
    byId("archived-open").addEventListener("click", () => this.showView("archived"));
    byId("archived-back").addEventListener("click", () => this.showView("main"));
    document.addEventListener("click", (event) => {
      for (const menu of document.querySelectorAll(".row-menu:not([hidden])")) {
        const row = menu.closest("li");
        if (!row.contains(event.target)) this.closeMenu(row, false);
      }
    });
    const list = byId("conversation-list");
    list.addEventListener("keydown", (event) => this.menuKey(event));
    list.addEventListener("focusout", (event) => {
      const row = event.target.closest("li");
      if (row && !row.contains(event.relatedTarget) && event.relatedTarget) this.closeMenu(row, false);
    });
  }

  async showView(view) {
    const before = this.view;
    this.view = view;
    try {
      await this.load();
    } catch (error) {
      this.view = before;
      this.announce(error.message);
      return;
    }
    const target = view === "archived" ? byId("archived-back") : byId("archived-open");
    if (!target.hidden) target.focus();
    else {
      const first = byId("conversation-list").querySelector("a");
      if (first) first.focus();
    }
  }

  onLoad(listener) {
    this.listeners.push(listener);
  }

  async load() {
    const ticket = ++this.loadTicket;
    const archived = this.archivedView();
    const { data } = await api("GET", archived ? "/api/conversations?archived=true" : "/api/conversations");
    if (ticket !== this.loadTicket) return; // a later load (or a switch of lists) answers instead
    this.byId = new Map(data.conversations.map((c) => [c.id, c]));
    if (this.openId && this.byId.has(this.openId)) this.byId.get(this.openId).unreadCount = 0;
    for (const conversation of data.conversations) this.known.set(conversation.id, conversation);
    this.setCounts(data);
    this.render();
    for (const listener of this.listeners) listener(this);
  }

  get(id) {
    return this.byId.get(id) || this.known.get(id);
  }

  // The conversations of these ids, from either list (fetched once when one is not known yet).
  async lookup(ids) {
    const missing = () => ids.filter((id) => !this.known.has(id));
    for (const path of ["/api/conversations?archived=true", "/api/conversations"]) {
      if (!missing().length) break;
      const { data } = await api("GET", path);
      for (const conversation of data.conversations) if (!this.known.has(conversation.id)) this.known.set(conversation.id, conversation);
    }
    return ids.map((id) => this.known.get(id) || null);
  }

  setCounts(data) {
    if (typeof data.archivedCount === "number") {
      this.counts = { archivedCount: data.archivedCount, archivedUnreadCount: data.archivedUnreadCount || 0 };
    }
    this.renderSwitch();
  }

  // The "Archived (N)" entry at the top of the main list, or the way back from the archived list.
  renderSwitch() {
    const archived = this.archivedView();
    const { archivedCount, archivedUnreadCount } = this.counts;
    const entry = byId("archived-open");
    entry.hidden = archived || archivedCount === 0;
    setText(entry.querySelector("[data-testid=archived-count]"), String(archivedCount));
    const badge = entry.querySelector("[data-testid=archived-unread]");
    setText(badge, String(archivedUnreadCount));
    badge.hidden = archivedUnreadCount === 0;
    entry.setAttribute("aria-label", `Archived (${archivedCount})${archivedUnreadCount ? `, ${archivedUnreadCount} unread` : ""}`);
    byId("archived-header").hidden = !archived;
    byId("conversation-list").setAttribute("aria-label", archived ? "Archived chats" : "Chats");
  }

  // The counts of the archived entry, asked again shortly after a chat moved between the lists.
  refreshCountsSoon() {
    clearTimeout(this.countsTimer);
    this.countsTimer = setTimeout(async () => {
      try {
        const { data } = await api("GET", "/api/conversations");
        this.setCounts(data);
      } catch {
        // The next change or reload asks again.
      }
    }, 150);
  }

  // A conversation's settings changed (conversation:update, or the answer to our own PATCH).
  updated(conversation) {
    const id = conversation.id;
    const previous = this.known.get(id);
    if (previous) {
      const mine = previous.lastMessage;
      const theirs = conversation.lastMessage;
      if (mine && theirs && mine.seq > theirs.seq) conversation.lastMessage = mine;
      if (id === this.openId) conversation.unreadCount = previous.unreadCount;
    } else if (id === this.openId) conversation.unreadCount = 0;
    this.known.set(id, conversation);
    const moved = previous && Boolean(previous.archived) !== Boolean(conversation.archived);
    if (moved) {
      // The entry's counts change at once (the server's figures follow in refreshCountsSoon).
      const sign = conversation.archived ? 1 : -1;
      const unread = (conversation.archived ? conversation : previous).unreadCount || 0;
      this.counts.archivedCount = Math.max(0, this.counts.archivedCount + sign);
      this.counts.archivedUnreadCount = Math.max(0, this.counts.archivedUnreadCount + sign * unread);
      this.renderSwitch();
    }
    if (this.belongs(conversation)) {
      this.byId.set(id, conversation);
      this.place(conversation);
    } else if (this.byId.has(id)) {
      this.byId.delete(id);
      this.removeRow(id);
    }
    if (!previous || moved) this.refreshCountsSoon();
    for (const listener of this.updateListeners) listener(conversation);
  }

  // Archive, unarchive, mute or unmute (the caller's own), or set the chat's timer (shared).
  async change(id, changes) {
    const { data } = await api("PATCH", `/api/conversations/${encodeURIComponent(id)}`, changes);
    this.updated(data.conversation);
    return data.conversation;
  }

  async rowAction(id, action) {
    const conversation = this.known.get(id);
    if (!conversation) return;
    const other = otherParticipant(conversation, this.me.id);
    const name = `${other.displayName} @${other.username}`;
    const changes = action === "archive" ? { archived: !conversation.archived } : { muted: !conversation.muted };
    try {
      const changed = await this.change(id, changes);
      const done = action === "archive" ? (changed.archived ? "archived" : "moved back to your chats") : changed.muted ? "muted" : "unmuted";
      this.announce(`Chat with ${name} ${done}.`);
    } catch (error) {
      this.announce(error.message);
    }
  }

  announce(text) {
    const status = byId("list-status");
    setText(status, text);
    clearTimeout(this.statusTimer);
    if (text) this.statusTimer = setTimeout(() => this.announce(""), 5000);
  }

  removeRow(id) {
    const list = byId("conversation-list");
    const row = list.querySelector(`li[data-conversation-id="${CSS.escape(id)}"]`);
    if (!row) return;
    const hadFocus = row.contains(document.activeElement);
    const neighbour = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    const cancel = this.expiryTimers.get(id);
    if (cancel) cancel();
    this.expiryTimers.delete(id);
    byId("no-conversations").hidden = list.children.length > 0;
    if (hadFocus) {
      const entry = byId("archived-open");
      const target = neighbour ? neighbour.querySelector("a") : entry.hidden ? byId("user-search") : entry;
      if (target) target.focus();
    }
  }

  // The per-row menu (a disclosure: a button and the actions it shows).
  toggleMenu(row) {
    const menu = row.querySelector(".row-menu");
    if (menu.hidden) this.openMenu(row);
    else this.closeMenu(row, true);
  }

  openMenu(row) {
    for (const other of document.querySelectorAll("#conversation-list li.menu-open")) if (other !== row) this.closeMenu(other, false);
    row.classList.add("menu-open");
    row.querySelector(".row-menu").hidden = false;
    row.querySelector(".row-menu-button").setAttribute("aria-expanded", "true");
    row.querySelector(".row-menu button").focus();
  }

  closeMenu(row, focusButton) {
    const menu = row.querySelector(".row-menu");
    if (!menu || menu.hidden) return;
    menu.hidden = true;
    row.classList.remove("menu-open");
    const button = row.querySelector(".row-menu-button");
    button.setAttribute("aria-expanded", "false");
    if (focusButton) button.focus();
  }

  menuKey(event) {
    const row = event.target.closest("li");
    if (!row) return;
    const menu = row.querySelector(".row-menu");
    if (!menu) return;
    const inMenu = menu.contains(event.target);
    if (event.key === "Escape" && !menu.hidden) {
      event.preventDefault();
      this.closeMenu(row, true);
      return;
    }
    if (event.target.matches(".row-menu-button") && event.key === "ArrowDown") {
      event.preventDefault();
      this.openMenu(row);
      return;
    }
    if (!inMenu || !["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    event.preventDefault();
    const items = [...menu.querySelectorAll("button")];
    const index = items.indexOf(event.target);
    const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 }[event.key];
    items[(next + items.length) % items.length].focus();
  }

  // A message arrived (or was sent) in some conversation.
  messageArrived(message, { seenNow }) {
    const conversation = this.byId.get(message.conversationId);
    if (!conversation) {
      // A new conversation, or one of the other list (a new message may bring an archived one
      // back; a muted one stays archived and its unread count shows on the Archived entry).
      const known = this.known.get(message.conversationId);
      if (known) known.lastMessage = message;
      this.load().catch(() => {});
      return;
    }
    conversation.lastMessage = message;
    conversation.updatedAt = message.createdAt;
    if (message.senderId !== this.me.id && !seenNow) conversation.unreadCount += 1;
    this.place(conversation);
  }

  added(conversation) {
    this.known.set(conversation.id, conversation);
    if (!this.belongs(conversation)) return;
    this.byId.set(conversation.id, conversation);
    this.place(conversation);
  }

  // `left`: unread messages of the chat not seen yet (read only when seen).
  markRead(id, left = 0) {
    const conversation = this.known.get(id);
    if (conversation && conversation.archived) this.refreshCountsSoon();
    if (conversation && conversation.unreadCount !== left) {
      conversation.unreadCount = left;
      if (this.byId.has(id)) this.place(conversation);
    }
  }

  // The whole list, newest activity first (after a load from the server).
  render() {
    const list = byId("conversation-list");
    const focus = focusedRow(list);
    const items = [...this.byId.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
    list.replaceChildren(...items.map((c) => this.renderItem(c)));
    if (focus) restoreFocus(list, focus);
    const empty = byId("no-conversations");
    empty.hidden = items.length > 0;
    setText(empty, this.archivedView() ? "No archived chats." : this.counts.archivedCount ? "No other chats: the rest are archived." : "No conversations yet. Search for someone above.");
    for (const cancel of this.expiryTimers.values()) cancel();
    this.expiryTimers.clear();
    for (const conversation of items) this.armExpiry(conversation);
  }

  // One conversation changed: rebuild its item and move it to its place (usually the top).
  place(conversation) {
    const list = byId("conversation-list");
    const old = list.querySelector(`li[data-conversation-id="${CSS.escape(conversation.id)}"]`);
    const focus = old && old.contains(document.activeElement) ? focusedRow(list) : null;
    if (old) old.remove();
    const later = [...list.children].find((li) => activity(this.byId.get(li.dataset.conversationId)).localeCompare(activity(conversation)) < 0);
    list.insertBefore(this.renderItem(conversation), later || null);
    if (focus) restoreFocus(list, focus);
    byId("no-conversations").hidden = true;
    this.armExpiry(conversation);
  }

  renderItem(conversation) {
    const other = otherParticipant(conversation, this.me.id);
    const last = conversation.lastMessage;
    const preview = last ? (last.senderId === this.me.id ? `You: ${previewText(last)}` : previewText(last)) : "No messages yet";
    const badge = h("span", { className: "unread-badge", "aria-label": `${conversation.unreadCount} unread` }, String(conversation.unreadCount));
    badge.hidden = conversation.unreadCount === 0;
    const id = conversation.id;
    const menuId = `conv-menu-${id}`;
    const who = `${other.displayName} (@${other.username})`;
    const classes = [id === this.openId ? "active" : "", conversation.muted ? "muted" : ""].filter(Boolean).join(" ");
    const row = h(
      "li",
      { dataset: { conversationId: id }, className: classes },
      h(
        "a",
        { href: `/c/${id}`, "aria-current": id === this.openId ? "page" : null },
        avatar(other),
        personLabel(other, "conv"),
        conversation.muted ? h("span", { className: "conv-muted", dataset: { testid: "muted-mark" } }, "Muted") : null,
        h("span", { className: "conv-preview" }, preview),
        badge,
      ),
      h(
        "button",
        {
          type: "button",
          className: "row-menu-button",
          "aria-label": `Actions for the chat with ${who}`,
          "aria-expanded": "false",
          "aria-controls": menuId,
          onClick: () => this.toggleMenu(row),
        },
        h("span", { "aria-hidden": "true" }, "⋯"),
      ),
      h(
        "div",
        { id: menuId, className: "row-menu", role: "group", "aria-label": `Chat with ${who}`, hidden: true },
        h("button", { type: "button", dataset: { action: "archive" }, onClick: () => this.rowAction(id, "archive") }, conversation.archived ? "Unarchive" : "Archive"),
        h("button", { type: "button", dataset: { action: "mute" }, onClick: () => this.rowAction(id, "mute") }, conversation.muted ? "Unmute" : "Mute"),
      ),
    );
    return row;
  }

  // When a last message disappears, ask the server what the list looks like now.
  armExpiry(conversation) {
    const cancel = this.expiryTimers.get(conversation.id);
    if (cancel) cancel();
    this.expiryTimers.delete(conversation.id);
    const last = conversation.lastMessage;
    if (!last || !last.expiresAt) return;
    // Already past here yet still listed: the server's clock is behind this browser's.
    // Ask again in a while, not at once (which would ask in a tight loop until it caught up).
    const expires = new Date(last.expiresAt).getTime();
    const when = expires > Date.now() ? expires : Date.now() + EXPIRED_RECHECK_MS;
    this.expiryTimers.set(conversation.id, at(new Date(when).toISOString(), () => this.load()));
  }
}

// Which row (and which of its controls) has the focus, to give it back after a rebuild.
function focusedRow(list) {
  const active = document.activeElement;
  const row = active && active.closest && active.closest("#conversation-list li");
  if (!row || !list.contains(row)) return null;
  return { id: row.dataset.conversationId, link: active.matches("a") };
}

function restoreFocus(list, focus) {
  const row = list.querySelector(`li[data-conversation-id="${CSS.escape(focus.id)}"]`);
  const target = row && row.querySelector(focus.link ? "a" : ".row-menu-button");
  if (target) target.focus();
}

// A person as the UI shows them: the display name (isolated, so right-to-left text cannot
// reorder what follows) and the @username, which only they have.
export function personLabel(user, prefix) {
  return h(
    "span",
    { className: `${prefix}-who` },
    h("bdi", { className: `${prefix}-name` }, user.displayName),
    " ",
    h("span", { className: `${prefix}-username` }, `@${user.username}`),
  );
}

// The chat header and the tab title: a person, or a plain text such as "Conversation not found".
export function setTitle(titleOrPerson) {
  const title = byId("chat-title");
  if (typeof titleOrPerson === "string") {
    setText(title, titleOrPerson);
    document.title = `${titleOrPerson} · Messenger`;
    return;
  }
  title.replaceChildren(avatar(titleOrPerson), personLabel(titleOrPerson, "chat"));
  document.title = `${titleOrPerson.displayName} (@${titleOrPerson.username}) · Messenger`;
}
