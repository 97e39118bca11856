// The quota display: free messages left today, points, when the free quota resets.
import { api } from "./api.js";
import { byId, setText } from "./dom.js";
import { at, formatFull, formatWhen, onNewDay } from "./time.js";

const PAST_RESET_RECHECK_MS = 60_000; // this browser's clock is past the reset, the server's not yet

export class QuotaDisplay {
  constructor() {
    this.quota = null;
    this.listeners = [];
    this.cancelReset = null;
    onNewDay(() => this.renderResets()); // "tomorrow at" becomes "today at"
  }

  onChange(listener) {
    this.listeners.push(listener);
  }

  async load() {
    const { data } = await api("GET", "/api/messages/quota");
    this.update(data);
  }

  update(quota) {
    this.quota = quota;
    const root = byId("quota");
    setText(root.querySelector("[data-testid=free-remaining]"), String(quota.freeRemaining));
    setText(root.querySelector("[data-testid=points-balance]"), String(quota.pointsBalance));
    this.renderResets();
    root.classList.toggle("exhausted", quota.freeRemaining === 0);
    if (this.cancelReset) this.cancelReset();
    // A new quota day starts on the server by date comparison; ask again once it has (a while
    // later when this browser's clock is ahead of the server's: not again and again).
    const reset = new Date(quota.resetsAt).getTime();
    const when = reset > Date.now() ? reset : Date.now() + PAST_RESET_RECHECK_MS;
    this.cancelReset = at(new Date(when).toISOString(), () => this.load().catch(() => {}));
    for (const listener of this.listeners) listener(quota);
  }

  // "Resets tomorrow at 12:00 AM", "today at ...", or with the date; the full date on hover.
  renderResets() {
    if (!this.quota) return;
    const resets = byId("quota").querySelector("[data-testid=quota-resets]");
    setText(resets, formatWhen(this.quota.resetsAt));
    resets.title = formatFull(this.quota.resetsAt);
  }

  // What the next message costs, as the server last told us.
  nextCost() {
    return this.quota ? this.quota.nextMessageCost : 0;
  }
}
