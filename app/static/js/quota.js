// The quota display: free messages left today, points, when the free quota resets.
import { api } from "./api.js";
import { byId, setText } from "./dom.js";
import { at, formatDateTime } from "./time.js";

export class QuotaDisplay {
  constructor() {
    this.quota = null;
    this.listeners = [];
    this.cancelReset = null;
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
    const resets = root.querySelector("[data-testid=quota-resets]");
    setText(resets, formatDateTime(quota.resetsAt));
    resets.title = quota.resetsAt;
    root.classList.toggle("exhausted", quota.freeRemaining === 0);
    if (this.cancelReset) this.cancelReset();
    // A new quota day starts on the server by date comparison; ask again once it has.
    this.cancelReset = at(quota.resetsAt, () => this.load().catch(() => {}));
    for (const listener of this.listeners) listener(quota);
  }

  // What the next message costs, as the server last told us.
  nextCost() {
    return this.quota ? this.quota.nextMessageCost : 0;
  }
}
