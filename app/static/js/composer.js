// The composer: counter, expiration picker, the cost of the next message; Enter queues the text in the outbox.
import { byId, setText } from "./dom.js";
import { newClientMessageId } from "./ids.js";

export class Composer {
  constructor({ maxLength, minHours, maxHours, quota, enqueue, waiting, onTyping, userId }) {
    this.userId = userId;
    this.maxLength = maxLength;
    this.minHours = minHours;
    this.maxHours = maxHours;
    this.quota = quota;
    this.enqueue = enqueue;
    this.waiting = waiting || (() => 0);
    this.onTyping = onTyping;
    this.form = byId("composer");
    this.input = byId("message-input");
    this.expiration = byId("expiration");
    this.customField = byId("custom-hours-field");
    this.customHours = byId("custom-hours");
    this.button = byId("send-button");
    this.error = byId("composer-error");
    this.paidOnce = false;
    this.attachments = null; // an AttachmentTray (attachments.js): files to send with the text
  }

  bind() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    // On a touch keyboard (pointer: coarse) Enter is a new line; the Send button sends.
    const touch = window.matchMedia("(pointer: coarse)");
    const hint = () => {
      this.input.placeholder = touch.matches ? "Write a message" : "Write a message (Enter sends, Shift+Enter for a new line)";
    };
    hint();
    touch.addEventListener("change", hint);
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !touch.matches) {
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
    byId("cost-confirm-yes").addEventListener("click", () => {
      this.confirmPaid();
      this.hideConfirm();
      this.submit();
    });
    byId("cost-confirm-no").addEventListener("click", () => this.hideConfirm());
    byId("cost-confirm").addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.hideConfirm();
    });
    this.refresh();
  }

  // The first paid message of a quota day asks once: "From now on each message costs 10 points".
  paidKey() {
    const quota = this.quota.quota;
    return `paid-confirmed:${this.userId}:${quota ? quota.quotaDate : ""}`;
  }

  paidConfirmed() {
    try {
      return localStorage.getItem(this.paidKey()) === "yes";
    } catch {
      return false;
    }
  }

  confirmPaid() {
    try {
      localStorage.setItem(this.paidKey(), "yes");
    } catch {
      this.paidOnce = true; // storage refused: at least for this page
    }
  }

  askToPay(cost) {
    const quota = this.quota.quota;
    setText(byId("cost-confirm-text"), `Your free messages for today are used up. From now on each message costs ${cost} points (you have ${quota ? quota.pointsBalance : 0}).`);
    setText(byId("cost-confirm-yes"), `Send for ${cost} points`);
    byId("cost-confirm").hidden = false;
    byId("cost-confirm-yes").focus();
  }

  hideConfirm() {
    if (byId("cost-confirm").hidden) return;
    byId("cost-confirm").hidden = true;
    this.input.focus();
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

  // What this message will cost: free while free slots remain after the messages still waiting.
  predictedCost(waiting) {
    const quota = this.quota.quota;
    if (!quota) return 0;
    if (quota.nextMessageCost > 0) return quota.nextMessageCost;
    return quota.freeRemaining - waiting > 0 ? 0 : quota.pointsPerMessage;
  }

  // Enter takes the text out of the box at once, into the outbox; the box is free for the next one.
  submit() {
    const files = this.attachments ? this.attachments.check() : { ok: true, attachments: [] };
    if (!files.ok) {
      this.showError(files.message);
      return;
    }
    const content = this.input.value.trim() || !files.attachments.length ? this.input.value : "";
    if (!content.trim() && !files.attachments.length) {
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
    const cost = this.predictedCost(this.waiting());
    if (cost > 0 && !this.paidOnce && !this.paidConfirmed()) {
      this.askToPay(cost); // the text stays in the box until the person agrees
      return;
    }
    this.input.value = "";
    this.showError("");
    this.refresh();
    this.enqueue({
      content,
      clientMessageId: newClientMessageId(),
      maxCost: cost,
      chatTimer: Boolean(expiration.chatTimer),
      expirationHours: expiration.hours,
      ...(files.attachments.length ? { attachmentIds: files.attachments.map((a) => a.id), attachments: files.attachments } : {}),
    });
    if (files.attachments.length) this.attachments.clear();
  }

  // A message taken back from the outbox (Edit): its text goes before whatever was typed since.
  restore(text) {
    const typed = this.input.value;
    const prefix = typed ? `${text}\n` : text;
    this.input.value = prefix + typed;
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
    this.refresh();
  }
}
