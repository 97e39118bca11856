// The conversation list (live) and the new-conversation search.
import { api, query } from "./api.js";
import { byId, h, setText } from "./dom.js";
import { at } from "./time.js";

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
    this.byId = new Map();
    this.listeners = [];
    this.expiryTimers = new Map();
  }

  onLoad(listener) {
    this.listeners.push(listener);
  }

  async load() {
    const { data } = await api("GET", "/api/conversations");
    this.byId = new Map(data.conversations.map((c) => [c.id, c]));
    if (this.openId && this.byId.has(this.openId)) this.byId.get(this.openId).unreadCount = 0;
    this.render();
    for (const listener of this.listeners) listener(this);
  }

  get(id) {
    return this.byId.get(id);
  }

  // A message arrived (or was sent) in some conversation.
  messageArrived(message, { seenNow }) {
    const conversation = this.byId.get(message.conversationId);
    if (!conversation) {
      this.load();
      return;
    }
    conversation.lastMessage = message;
    conversation.updatedAt = message.createdAt;
    if (message.senderId !== this.me.id && !seenNow) conversation.unreadCount += 1;
    this.place(conversation);
  }

  added(conversation) {
    this.byId.set(conversation.id, conversation);
    this.place(conversation);
  }

  markRead(id) {
    const conversation = this.byId.get(id);
    if (conversation && conversation.unreadCount) {
      conversation.unreadCount = 0;
      this.place(conversation);
    }
  }

  // The whole list, newest activity first (after a load from the server).
  render() {
    const list = byId("conversation-list");
    const items = [...this.byId.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
    list.replaceChildren(...items.map((c) => this.renderItem(c)));
    byId("no-conversations").hidden = items.length > 0;
    for (const cancel of this.expiryTimers.values()) cancel();
    this.expiryTimers.clear();
    for (const conversation of items) this.armExpiry(conversation);
  }

  // One conversation changed: rebuild its item and move it to its place (usually the top).
  place(conversation) {
    const list = byId("conversation-list");
    const old = list.querySelector(`li[data-conversation-id="${CSS.escape(conversation.id)}"]`);
    if (old) old.remove();
    const later = [...list.children].find((li) => activity(this.byId.get(li.dataset.conversationId)).localeCompare(activity(conversation)) < 0);
    list.insertBefore(this.renderItem(conversation), later || null);
    byId("no-conversations").hidden = true;
    this.armExpiry(conversation);
  }

  renderItem(conversation) {
    const other = otherParticipant(conversation, this.me.id);
    const last = conversation.lastMessage;
    const preview = last ? (last.senderId === this.me.id ? `You: ${last.content}` : last.content) : "No messages yet";
    const badge = h("span", { className: "unread-badge", "aria-label": `${conversation.unreadCount} unread` }, String(conversation.unreadCount));
    badge.hidden = conversation.unreadCount === 0;
    return h(
      "li",
      { dataset: { conversationId: conversation.id }, className: conversation.id === this.openId ? "active" : "" },
      h(
        "a",
        { href: `/c/${conversation.id}`, "aria-current": conversation.id === this.openId ? "page" : null },
        personLabel(other, "conv"),
        h("span", { className: "conv-preview" }, preview),
        badge,
      ),
    );
  }

  // When a last message disappears, ask the server what the list looks like now.
  armExpiry(conversation) {
    const cancel = this.expiryTimers.get(conversation.id);
    if (cancel) cancel();
    this.expiryTimers.delete(conversation.id);
    const last = conversation.lastMessage;
    if (last && last.expiresAt) this.expiryTimers.set(conversation.id, at(last.expiresAt, () => this.load()));
  }

  // The "start a conversation" search box.
  bindSearch() {
    const input = byId("user-search");
    const results = byId("user-results");
    let timer = null;
    let latest = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const q = input.value.trim();
        const ticket = ++latest;
        if (!q) {
          results.replaceChildren();
          return;
        }
        try {
          const { data } = await api("GET", `/api/users?${query({ q })}`);
          if (ticket !== latest) return;
          results.replaceChildren(
            ...(data.users.length
              ? data.users.map((user) => h("li", {}, this.userButton(user)))
              : [h("li", { className: "empty" }, "No one by that name.")]),
          );
        } catch (error) {
          results.replaceChildren(h("li", { className: "empty" }, error.message));
        }
      }, 150);
    });
  }

  userButton(user) {
    return h("button", { type: "button", dataset: { username: user.username }, onClick: () => this.start(user) }, personLabel(user, "result"));
  }

  async start(user) {
    try {
      const { data } = await api("POST", "/api/conversations/create", {
        receiverId: user.id,
        pointsCost: this.conversationCost,
      });
      window.location.assign(`/c/${data.conversation.id}`);
    } catch (error) {
      byId("user-results").replaceChildren(h("li", { className: "empty", role: "alert" }, error.message));
    }
  }
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
  title.replaceChildren(personLabel(titleOrPerson, "chat"));
  document.title = `${titleOrPerson.displayName} (@${titleOrPerson.username}) · Messenger`;
}
