// The composer: counter, expiration picker, the cost of the next message, sending.
import { ApiError } from "./api.js";
import { byId, setText } from "./dom.js";
import { newClientMessageId } from "./ids.js";

export class Composer {
  constructor({ maxLength, minHours, maxHours, quota, send, onTyping }) {
    this.maxLength = maxLength;
    this.minHours = minHours;
    this.maxHours = maxHours;
    this.quota = quota;
    this.send = send;
    this.onTyping = onTyping;
    this.form = byId("composer");
    this.input = byId("message-input");
    this.expiration = byId("expiration");
    this.customField = byId("custom-hours-field");
    this.customHours = byId("custom-hours");
    this.button = byId("send-button");
    this.error = byId("composer-error");
    // Texts taken out of the box, sent one after another so they arrive in order.
    this.queue = [];
    this.sending = false;
    // {content, clientMessageId} of a text whose answer was lost: sent again unchanged, it reuses the id.
    this.retry = null;
  }

  bind() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => {
      this.refresh();
      this.onTyping();
    });
    this.expiration.addEventListener("change", () => {
      this.customField.hidden = this.expiration.value !== "custom";
      if (!this.customField.hidden) this.customHours.focus();
    });
    this.quota.onChange(() => this.refresh());
    this.refresh();
  }

  refresh() {
    const length = this.input.value.length;
    const counter = byId("char-counter");
    setText(counter, `${length} / ${this.maxLength}`);
    counter.classList.toggle("over", length > this.maxLength);
    const quota = this.quota.quota;
    let notice = "";
    if (quota) {
      notice = quota.nextMessageCost === 0
        ? `This message is free (${quota.freeRemaining} free left today)`
        : `This message costs ${quota.nextMessageCost} points (you have ${quota.pointsBalance})`;
    }
    const costNotice = byId("cost-notice");
    setText(costNotice, notice);
    costNotice.classList.toggle("paid", Boolean(quota && quota.nextMessageCost > 0));
    this.form.setAttribute("aria-busy", String(this.sending));
  }

  showError(text) {
    setText(this.error, text);
    this.error.hidden = !text;
  }

  // "" is the chat's own timer (the send omits expirationHours); "off" never expires (null).
  expirationHours() {
    const value = this.expiration.value;
    if (value === "") return { ok: true, chatTimer: true, hours: null };
    if (value === "off") return { ok: true, hours: null };
    const hours = value === "custom" ? Number(this.customHours.value) : Number(value);
    if (!Number.isInteger(hours) || hours < this.minHours || hours > this.maxHours) {
      return { ok: false, message: `Choose a whole number of hours from ${this.minHours} to ${this.maxHours}.` };
    }
    return { ok: true, hours };
  }

  // Enter takes the text out of the box at once; the box stays free for the next one.
  submit() {
    const content = this.input.value;
    if (!content.trim()) {
      this.showError("Write something first.");
      return;
    }
    if (content.length > this.maxLength) {
      this.showError(`Messages can be at most ${this.maxLength} characters.`);
      return;
    }
    const expiration = this.expirationHours();
    if (!expiration.ok) {
      this.showError(expiration.message);
      return;
    }
    const retried = this.retry && this.retry.content === content;
    const clientMessageId = retried ? this.retry.clientMessageId : newClientMessageId();
    this.retry = null;
    this.queue.push({
      content,
      clientMessageId,
      maxCost: this.quota.nextCost(),
      chatTimer: Boolean(expiration.chatTimer),
      expirationHours: expiration.hours,
    });
    this.input.value = "";
    this.showError("");
    this.refresh();
    this.sendQueued();
  }

  async sendQueued() {
    if (this.sending) return;
    this.sending = true;
    this.refresh();
    try {
      while (this.queue.length) {
        try {
          await this.send(this.queue[0]);
          this.queue.shift();
        } catch (error) {
          // What follows a failed text waits with it, so that nothing is sent out of order.
          this.putBack(this.queue.splice(0), error);
        }
      }
    } finally {
      this.sending = false;
      this.refresh();
    }
  }

  // Unsent texts go back into the box, in order, before whatever was typed since.
  putBack(drafts, error) {
    const typed = this.input.value;
    const caret = this.input === document.activeElement ? this.input.selectionStart : typed.length;
    const unsent = drafts.map((draft) => draft.content).join("\n");
    const prefix = typed ? `${unsent}\n` : unsent;
    this.input.value = prefix + typed;
    this.input.setSelectionRange(prefix.length + caret, prefix.length + caret);
    // A lost answer may hide a stored message: the same text sent again keeps its id.
    const lost = error instanceof ApiError && error.status === 0;
    if (lost && drafts.length === 1 && !typed) this.retry = drafts[0];
    this.showError(explain(error));
    if (error instanceof ApiError && (error.code === "cost_exceeds_max" || error.code === "insufficient_points")) {
      this.quota.load().catch(() => {});
    }
    this.refresh();
    this.input.focus();
  }
}

export function explain(error) {
  if (!(error instanceof ApiError)) return "Something went wrong; your message was not sent.";
  const d = error.details;
  switch (error.code) {
    case "insufficient_points":
      return `Not enough points: this message costs ${d.required} points and you have ${d.balance}. Your free messages for today are used up.`;
    case "cost_exceeds_max":
      return `The price changed: this message now costs ${d.cost} points. Press Send again to pay it.`;
    case "rate_limited":
      return `You are sending too fast. Try again in ${d.retryAfter || "a few"} seconds.`;
    case "network_error":
      return "Cannot reach the server; your message was not sent. Press Send to try again.";
    default:
      return error.status >= 500 ? "The server failed; your message was not sent. Press Send to try again." : error.message;
  }
}
