// The search box: people to start a conversation with, and the messages of my conversations.
// Arrow keys move through the results, Enter opens one, Escape clears the search.
import { ApiError, api, query } from "./api.js";
import { otherParticipant, personLabel } from "./conversations.js";
import { byId, h, setText } from "./dom.js";
import { formatDate } from "./time.js";
import { avatar } from "./avatar.js";

const DEBOUNCE_MS = 250;
const MIN_MESSAGE_QUERY = 2;
const PAGE = 20;
const USERNAME = /^@?[A-Za-z0-9_.-]{1,32}$/;
const CONTEXT_BEFORE = 40; // characters kept before the first match
const SNIPPET_LENGTH = 240; // characters shown in all

// The link that opens a chat at one message (the chat loads around it and highlights it).
export function messageLink(message) {
  return `/c/${encodeURIComponent(message.conversationId)}?${query({ m: message.id })}`;
}

// A result's text as nodes: plain text, and the matched words in <mark> (never HTML),
// shortened around the first match so that it shows even in a long message.
export function snippet(segments) {
  const first = Math.max(0, segments.findIndex((segment) => segment.match));
  const nodes = [];
  let before = segments.slice(0, first).map((segment) => segment.text).join("");
  if (before.length > CONTEXT_BEFORE) before = `…${before.slice(before.length - CONTEXT_BEFORE).replace(/^\S*\s/, "")}`;
  if (before) nodes.push(document.createTextNode(before));
  let budget = SNIPPET_LENGTH - before.length;
  for (const segment of segments.slice(first)) {
    if (budget <= 0) {
      nodes.push(document.createTextNode("…"));
      break;
    }
    let text = segment.text;
    if (text.length > budget && !segment.match) text = `${text.slice(0, budget)}…`;
    budget -= text.length;
    nodes.push(segment.match ? h("mark", {}, text) : document.createTextNode(text));
  }
  return nodes;
}

function explainSearch(error) {
  if (!(error instanceof ApiError)) return "Search failed. Try again.";
  if (error.code === "rate_limited") {
    const wait = error.details.retryAfter;
    return `Too many searches at once. Try again in ${wait || "a few"} second${wait === 1 ? "" : "s"}.`;
  }
  if (error.code === "invalid_query") return error.message || "Type a word to search for.";
  if (error.status === 0) return error.message;
  return error.status >= 500 ? "Search is not available right now. Try again shortly." : error.message;
}

function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

export class SearchPanel {
  constructor({ me, conversations, conversationCost, keepInUrl = false }) {
    this.me = me;
    this.conversations = conversations;
    this.conversationCost = conversationCost;
    this.keepInUrl = keepInUrl;
    this.timer = null;
    this.latest = 0;
    this.query = "";
    this.cursor = null;
    this.summary = { people: null, messages: null };
  }

  bind() {
    this.input = byId("user-search");
    if (!this.input) return;
    this.root = this.input.closest(".search-panel");
    this.results = byId("search-results");
    this.status = byId("search-status");
    this.people = byId("user-results");
    this.messages = byId("message-results");
    this.more = byId("more-results");
    this.input.addEventListener("input", () => this.schedule());
    this.root.addEventListener("keydown", (event) => this.key(event));
    this.more.addEventListener("click", () => this.loadMore());
    if (this.keepInUrl) {
      const q = new URLSearchParams(window.location.search).get("q");
      if (q) {
        this.input.value = q;
        this.run();
      }
      this.input.focus();
    }
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
  }

  // The focusable results, in the order the arrow keys go through them.
  items() {
    return [...this.results.querySelectorAll("#user-results button, #message-results a, #more-results")].filter(
      (element) => element.offsetParent !== null,
    );
  }

  key(event) {
    const target = event.target;
    const items = this.items();
    const index = items.indexOf(target);
    if (target !== this.input && index < 0) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      const next = items[Math.min(index + 1, items.length - 1)];
      if (next) next.focus();
    } else if (event.key === "ArrowUp") {
      if (index < 0) return;
      event.preventDefault();
      (index === 0 ? this.input : items[index - 1]).focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.clear();
      this.input.focus();
    } else if (event.key === "Enter" && target === this.input) {
      event.preventDefault();
      clearTimeout(this.timer);
      this.run();
    }
  }

  clear() {
    clearTimeout(this.timer);
    this.latest += 1;
    this.input.value = "";
    this.query = "";
    this.results.hidden = true;
    this.people.replaceChildren();
    this.messages.replaceChildren();
    setText(this.status, "");
    this.remember("");
  }

  remember(q) {
    if (!this.keepInUrl) return;
    window.history.replaceState(null, "", q ? `/search?${query({ q })}` : "/search");
  }

  async run() {
    const q = this.input.value.trim();
    const ticket = ++this.latest;
    this.remember(q);
    if (!q) {
      this.clear();
      return;
    }
    this.query = q;
    const lookingForPeople = USERNAME.test(q);
    const [people, messages] = await Promise.allSettled([
      lookingForPeople ? api("GET", `/api/users?${query({ q: q.replace(/^@/, "") })}`) : null,
      q.length >= MIN_MESSAGE_QUERY ? this.searchMessages(q) : null,
    ]);
    if (ticket !== this.latest) return;
    this.results.hidden = false;
    this.showPeople(lookingForPeople ? people : null);
    if (q.length < MIN_MESSAGE_QUERY) this.showMessageNotice(`Type at least ${MIN_MESSAGE_QUERY} characters to search messages.`);
    else if (messages.status === "rejected") this.showMessageNotice(explainSearch(messages.reason));
    else this.showMessages(messages.value, { append: false });
    this.announce();
  }

  // One page of message results with what they need to show (the other person of each).
  async searchMessages(q, before) {
    const { data } = await api("GET", `/api/search?${query({ q, before, limit: PAGE })}`);
    const ids = [...new Set(data.results.map((result) => result.message.conversationId))];
    await this.conversations.lookup(ids).catch(() => {});
    return data;
  }

  showPeople(outcome) {
    const group = byId("people-group");
    group.hidden = outcome === null;
    this.summary.people = null;
    if (outcome === null) {
      this.people.replaceChildren();
      return;
    }
    if (outcome.status === "rejected") {
      this.people.replaceChildren(h("li", { className: "empty" }, outcome.reason.message));
      return;
    }
    const users = outcome.value.data.users;
    this.summary.people = users.length;
    this.people.replaceChildren(
      ...(users.length ? users.map((user) => h("li", {}, this.userButton(user))) : [h("li", { className: "empty" }, "No one by that name.")]),
    );
  }

  showMessageNotice(text) {
    byId("message-group").hidden = false;
    this.more.hidden = true;
    this.summary.messages = null;
    this.summary.notice = text;
    this.messages.replaceChildren(h("li", { className: "empty search-notice" }, text));
  }

  showMessages(data, { append }) {
    byId("message-group").hidden = false;
    this.summary.notice = null;
    const items = data.results.map((result) => h("li", {}, this.messageResult(result)));
    if (append) this.messages.append(...items);
    else if (items.length) this.messages.replaceChildren(...items);
    else this.messages.replaceChildren(h("li", { className: "empty" }, "No messages found."));
    const last = data.results[data.results.length - 1];
    this.cursor = last ? last.message.id : null;
    this.more.hidden = !(data.hasMore && this.cursor);
    this.summary.messages = this.messages.querySelectorAll("a").length;
    this.summary.moreMessages = !this.more.hidden;
  }

  announce() {
    const found = [];
    if (this.summary.people !== null) found.push(plural(this.summary.people, "person", "people"));
    if (this.summary.messages !== null) found.push(`${plural(this.summary.messages, "message", "messages")}${this.summary.moreMessages ? " (more available)" : ""}`);
    const sentences = [found.length ? `Found ${found.join(" and ")}.` : "", this.summary.notice || ""];
    setText(this.status, sentences.filter(Boolean).join(" "));
  }

  async loadMore() {
    if (!this.cursor || this.more.disabled) return;
    const ticket = this.latest;
    const firstNew = this.messages.querySelectorAll("a").length;
    this.more.disabled = true;
    try {
      const data = await this.searchMessages(this.query, this.cursor);
      if (ticket !== this.latest) return;
      this.showMessages(data, { append: true });
      this.announce();
      const links = this.messages.querySelectorAll("a");
      if (this.more.hidden && links[firstNew]) links[firstNew].focus();
    } catch (error) {
      setText(this.status, explainSearch(error));
    } finally {
      this.more.disabled = false;
    }
  }

  messageResult({ message, segments }) {
    const conversation = this.conversations.known.get(message.conversationId);
    const other = conversation ? otherParticipant(conversation, this.me.id) : null;
    const mine = message.senderId === this.me.id;
    return h(
      "a",
      { href: messageLink(message), className: "message-result", dataset: { messageId: message.id, conversationId: message.conversationId } },
      h(
        "span",
        { className: "result-head" },
        other ? personLabel(other, "result") : h("span", { className: "result-who" }, "Conversation"),
        h("time", { datetime: message.createdAt }, formatDate(message.createdAt)),
      ),
      h("span", { className: "result-snippet" }, mine ? h("span", { className: "result-you" }, "You: ") : null, ...snippet(segments)),
    );
  }

  userButton(user) {
    return h("button", { type: "button", dataset: { username: user.username }, onClick: () => this.start(user) }, avatar(user), personLabel(user, "result"));
  }

  async start(user) {
    try {
      const { data } = await api("POST", "/api/conversations/create", {
        receiverId: user.id,
        pointsCost: this.conversationCost,
      });
      window.location.assign(`/c/${data.conversation.id}`);
    } catch (error) {
      this.people.replaceChildren(h("li", { className: "empty", role: "alert" }, error.message));
    }
  }
}
