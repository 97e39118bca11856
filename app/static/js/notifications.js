// Web Push in the page: the "Enable notifications" control (permission asked only on its
// click), the subscription posted again after each login (the server ties it to the login),
// unsubscribing on logout, a chat's notifications closed once it is looked at, and the
// unread count in the title of a hidden tab.
import { api } from "./api.js";
import { byId, setText } from "./dom.js";

const WORKER = "/sw.js";
const LOGOUT_WAIT_MS = 3000; // logging out never waits longer for the unsubscribe
const READY_WAIT_MS = 10000;

const LABELS = { off: "Enable notifications", on: "Notifications on" };
const MESSAGES = {
  blocked: "Notifications are blocked for this site. Allow them in your browser's site settings, then try again.",
  dismissed: "Notifications were not allowed.",
  noPushService: "Notifications could not be turned on: this browser has no push service available.",
  saveFailed: "Notifications could not be turned on. Try again later.",
  offFailed: "Notifications could not be turned off. Try again later.",
};

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function timeout(ms, what) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} took too long`)), ms));
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The application server key (base64url) as the bytes pushManager.subscribe takes.
export function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob(base64);
  return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
}

function sameBytes(buffer, bytes) {
  if (!buffer) return true; // not told: assume the key it was made with
  const view = new Uint8Array(buffer);
  return view.length === bytes.length && view.every((byte, i) => byte === bytes[i]);
}

// Asked right in the click: browsers want a user gesture for the question.
function askPermission() {
  try {
    return Promise.resolve(Notification.requestPermission());
  } catch (error) {
    return Promise.reject(error);
  }
}

// This page's worker registration, if one was registered (none: no subscription either).
async function existingRegistration() {
  try {
    return (await navigator.serviceWorker.getRegistration("/")) || null;
  } catch {
    return null;
  }
}

async function existingSubscription() {
  const registration = await existingRegistration();
  return registration ? registration.pushManager.getSubscription() : null;
}

export class PushControl {
  // `onLeave`: called just before the logout form is submitted (the page closes its socket,
  // so the server ending the session is not taken for a lost login).
  constructor({ onLeave = () => {} } = {}) {
    this.onLeave = onLeave;
    this.button = byId("notifications-toggle");
    this.status = byId("notifications-status");
    this.key = null; // the server's application server key (bytes)
    this.state = "hidden";
    this.busy = false;
    this.leaving = false;
    this.statusTimer = null;
  }

  // Show the control when the browser and the server both can push; never asks anything.
  async start() {
    if (!pushSupported() || !this.button) return;
    this.bindLogout();
    let publicKey;
    try {
      ({ data: { publicKey } } = await api("GET", "/api/push/key"));
      this.key = keyBytes(publicKey);
    } catch {
      return; // 404 push_disabled (or no answer): no control at all
    }
    this.button.addEventListener("click", () => this.toggle());
    this.watchPermission();
    if (Notification.permission === "denied") {
      this.show("off", MESSAGES.blocked);
      return;
    }
    this.show("off");
    if (Notification.permission !== "granted") return;
    // Already allowed: post this browser's subscription again, tied to this login.
    try {
      const registration = await navigator.serviceWorker.register(WORKER, { scope: "/" });
      const subscription = await registration.pushManager.getSubscription();
      if (subscription && sameBytes(subscription.options && subscription.options.applicationServerKey, this.key)) {
        await api("POST", "/api/push/subscriptions", subscription.toJSON());
        this.show("on");
      }
    } catch {
      // Silently off: the person can enable them again with the button.
    }
  }

  // `message`: a short line beside the button; a problem (blocked, failed) shows as a warning.
  show(state, message = "") {
    this.state = state;
    this.button.hidden = false;
    setText(this.button, LABELS[state]);
    if (state === "on") this.button.title = "Turn notifications off";
    else this.button.removeAttribute("title");
    this.button.classList.toggle("on", state === "on");
    setText(this.status, message);
    const problem = Object.values(MESSAGES).some((text) => message.startsWith(text));
    this.status.classList.toggle("problem", problem);
    // A confirmation goes after a while; a problem stays until the next click.
    clearTimeout(this.statusTimer);
    if (message && !problem) this.statusTimer = setTimeout(() => setText(this.status, ""), 5000);
  }

  // The browser's permission changed in its site settings while the page is open.
  watchPermission() {
    if (!navigator.permissions || !navigator.permissions.query) return;
    navigator.permissions
      .query({ name: "notifications" })
      .then((status) => {
        status.addEventListener("change", () => {
          if (Notification.permission === "denied") this.show("off", MESSAGES.blocked);
          else if (this.state === "off" && this.status.textContent === MESSAGES.blocked) this.show("off");
        });
      })
      .catch(() => {});
  }

  toggle() {
    if (this.busy) return;
    this.busy = true;
    this.button.setAttribute("aria-busy", "true");
    const work = this.state === "on" ? this.disable() : this.enable(askPermission());
    work
      .catch(() => this.show(this.state, MESSAGES.saveFailed))
      .finally(() => {
        this.busy = false;
        this.button.removeAttribute("aria-busy");
      });
  }

  async enable(asked) {
    let permission;
    try {
      permission = (await asked) || Notification.permission;
    } catch {
      permission = Notification.permission;
    }
    if (permission === "denied") return this.show("off", MESSAGES.blocked);
    if (permission !== "granted") return this.show("off", MESSAGES.dismissed);
    let subscription;
    try {
      await navigator.serviceWorker.register(WORKER, { scope: "/" });
      const registration = await Promise.race([navigator.serviceWorker.ready, timeout(READY_WAIT_MS, "The service worker")]);
      subscription = await registration.pushManager.getSubscription();
      if (subscription && !sameBytes(subscription.options && subscription.options.applicationServerKey, this.key)) {
        await subscription.unsubscribe(); // made for another server key: useless now
        subscription = null;
      }
      if (!subscription) {
        subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: this.key });
      }
    } catch {
      return this.show("off", MESSAGES.noPushService);
    }
    try {
      await api("POST", "/api/push/subscriptions", subscription.toJSON());
    } catch (error) {
      subscription.unsubscribe().catch(() => {});
      return this.show("off", error.status === 400 ? `${MESSAGES.saveFailed} (${error.message})` : MESSAGES.saveFailed);
    }
    return this.show("on", "Notifications are on for this browser.");
  }

  async disable() {
    try {
      await forgetSubscription();
    } catch {
      // Unsubscribed in the browser is off (the push service tells the server it is gone).
      const left = await existingSubscription().catch(() => null);
      if (left) return this.show("on", MESSAGES.offFailed);
    }
    return this.show("off", "Notifications are off for this browser.");
  }

  // Logging out removes this browser's subscription first (while still logged in); a
  // failure or a slow answer never keeps the person logged in.
  bindLogout() {
    const form = byId("logout-form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.leaving) return;
      this.leaving = true;
      Promise.race([forgetSubscription(), delay(LOGOUT_WAIT_MS)])
        .catch(() => {})
        .finally(() => {
          try {
            this.onLeave();
          } finally {
            form.submit();
          }
        });
    });
  }
}

// Unsubscribe this browser and delete its subscription on the server (both tried).
export async function forgetSubscription() {
  const subscription = await existingSubscription();
  if (!subscription) return;
  const { endpoint } = subscription;
  const [unsubscribed, deleted] = await Promise.allSettled([
    subscription.unsubscribe(),
    api("DELETE", "/api/push/subscriptions", { endpoint }),
  ]);
  if (deleted.status === "rejected") throw deleted.reason;
  if (unsubscribed.status === "rejected") throw unsubscribed.reason;
}

// Close the notifications of a chat once it is open in a visible tab (now and when shown again).
export function closeNotificationsWhileSeen(conversationId) {
  if (!pushSupported() || !conversationId) return;
  const close = async () => {
    if (document.visibilityState !== "visible") return;
    const registration = await existingRegistration();
    if (!registration) return;
    const shown = await registration.getNotifications({ tag: conversationId });
    for (const notification of shown) notification.close();
  };
  close().catch(() => {});
  document.addEventListener("visibilitychange", () => close().catch(() => {}));
}

// "(3) Messenger": messages from others that arrived while the tab was hidden (muted chats
// not counted); the normal title again once the tab is visible.
export class UnreadTitle {
  constructor({ me, isMuted = () => false }) {
    this.me = me;
    this.isMuted = isMuted;
    this.unseen = new Set(); // message ids
    this.plain = document.title;
    this.shown = document.title;
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.clear();
    });
    // The page may set its own title meanwhile (a chat's name): the count stays in front.
    const title = document.querySelector("title");
    if (title) new MutationObserver(() => this.render()).observe(title, { childList: true, characterData: true, subtree: true });
  }

  messageArrived(message) {
    if (document.visibilityState === "visible" || message.senderId === this.me.id) return;
    if (this.isMuted(message.conversationId)) return;
    this.unseen.add(message.id);
    this.render();
  }

  clear() {
    this.unseen.clear();
    this.render();
  }

  render() {
    if (document.title !== this.shown) this.plain = document.title; // set by the page: the new plain title
    const wanted = this.unseen.size ? `(${this.unseen.size}) ${this.plain}` : this.plain;
    if (document.title !== wanted) document.title = wanted;
    this.shown = document.title; // as the browser normalised it
  }
}
