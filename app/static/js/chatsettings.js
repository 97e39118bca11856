// The chat header's settings: archive and mute (mine), and the disappearing-messages timer
// (shared by both participants; the header says who set it). The composer's picker names it.
import { personLabel } from "./conversations.js";
import { byId, h, setText } from "./dom.js";
import { formatHours } from "./time.js";

const APPLY_AFTER_MS = 500; // arrow keys on a closed <select> change it once per press

export class ChatSettings {
  constructor({ me, conversations }) {
    this.me = me;
    this.conversations = conversations;
    this.conversation = null;
    this.timerApply = null;
    this.panel = byId("chat-settings");
    this.status = byId("chat-timer-status");
    this.timer = byId("chat-timer");
    this.mute = byId("chat-mute");
    this.archive = byId("chat-archive");
    this.error = byId("chat-settings-error");
  }

  bind() {
    this.panel.hidden = false;
    this.mute.addEventListener("click", () => this.apply({ muted: !this.conversation.muted }, this.mute));
    this.archive.addEventListener("click", () => this.apply({ archived: !this.conversation.archived }, this.archive));
    this.timer.addEventListener("change", () => {
      clearTimeout(this.timerApply);
      this.timerApply = setTimeout(() => this.applyTimer(), APPLY_AFTER_MS);
    });
    this.timer.addEventListener("blur", () => {
      if (this.timerApply) this.applyTimer();
    });
  }

  applyTimer() {
    clearTimeout(this.timerApply);
    this.timerApply = null;
    const value = this.timer.value === "" ? null : Number(this.timer.value);
    if (value === (this.conversation.expirationHours ?? null)) return;
    this.apply({ expirationHours: value }, this.timer);
  }

  async apply(changes, control) {
    this.showError("");
    control.setAttribute("aria-busy", "true");
    try {
      await this.conversations.change(this.conversation.id, changes);
    } catch (error) {
      this.showError(error.message);
      this.show(this.conversation); // the controls show what is true again
    } finally {
      control.removeAttribute("aria-busy");
    }
  }

  showError(text) {
    setText(this.error, text);
    this.error.hidden = !text;
  }

  // Show a conversation's settings (at load, and at every conversation:update).
  show(conversation) {
    this.conversation = conversation;
    setText(this.mute, conversation.muted ? "Unmute" : "Mute");
    setText(this.archive, conversation.archived ? "Unarchive" : "Archive");
    this.mute.title = conversation.muted ? "Notifications for this chat are off; new messages keep it archived" : "Turn off notifications for this chat";
    this.archive.title = conversation.archived ? "Move this chat back to your chats" : "Hide this chat in Archived";
    const hours = conversation.expirationHours ?? null;
    if (this.timerApply === null) this.selectHours(hours);
    this.status.replaceChildren(...this.describe(conversation));
    const option = byId("expiration").querySelector('option[value=""]');
    setText(option, `Chat timer (${hours === null ? "off" : formatHours(hours)})`);
  }

  selectHours(hours) {
    const value = hours === null ? "" : String(hours);
    if (![...this.timer.options].some((option) => option.value === value)) {
      this.timer.querySelector("option[data-custom]")?.remove();
      this.timer.append(h("option", { value, dataset: { custom: "true" } }, formatHours(hours)));
    }
    this.timer.value = value;
  }

  // "Disappearing messages: 8 hours · set by Alice @alice", or "off".
  describe(conversation) {
    const hours = conversation.expirationHours ?? null;
    const nodes = [`Disappearing messages: ${hours === null ? "off" : formatHours(hours)}`];
    const setBy = conversation.expirationSetBy;
    if (setBy) {
      nodes.push(hours === null ? " · turned off by " : " · set by ");
      const person = conversation.participants.find((p) => p.id === setBy);
      nodes.push(setBy === this.me.id ? "you" : person ? personLabel(person, "timer") : "someone");
    }
    return nodes;
  }
}
