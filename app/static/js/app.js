// The messenger page: wires the socket, the quota, the conversation list and the chat together.
import { api } from "./api.js";
import { ChatView } from "./chat.js";
import { ChatSettings } from "./chatsettings.js";
import { AttachmentTray } from "./attachments.js";
import { Composer } from "./composer.js";
import { ConversationList, otherParticipant, setTitle } from "./conversations.js";
import { PushControl, UnreadTitle, closeNotificationsWhileSeen } from "./notifications.js";
import { Outbox } from "./outbox.js";
import { QuotaDisplay } from "./quota.js";
import { SearchPanel } from "./search.js";
import { openSocket } from "./socket.js";

const data = document.body.dataset;
const me = { id: data.userId, username: data.username, displayName: data.displayName };
const openId = data.conversationId || null;
const onSearchPage = document.body.classList.contains("on-search");

const quota = new QuotaDisplay();
const conversations = new ConversationList({ me, openId, conversationCost: Number(data.conversationCost || 0) });
let chat = null;
const unreadTitle = new UnreadTitle({ me, isMuted: (id) => Boolean(conversations.get(id) && conversations.get(id).muted) });

// Unsent messages survive reloads; any page of the user sends them, in order.
const outbox = new Outbox({ userId: me.id });
outbox.onSent((sent) => {
  if (chat) chat.messageArrived(sent.message);
  conversations.messageArrived(sent.message, { seenNow: sent.message.conversationId === openId });
  quota.update(sent.quota);
});
outbox.onRefused(() => quota.load().catch(() => {}));

const socket = openSocket({
  onReconnect: async () => {
    outbox.kick();
    await Promise.allSettled([conversations.load(), quota.load(), chat ? chat.catchUp() : null]);
  },
});

socket.on("message:new", (message) => {
  if (message.senderId !== me.id) socket.emit("message:ack", { messageIds: [message.id] });
  const seenNow = Boolean(chat && message.conversationId === openId && document.visibilityState === "visible");
  conversations.messageArrived(message, { seenNow });
  if (chat) chat.messageArrived(message);
  unreadTitle.messageArrived(message);
});
socket.on("conversation:new", (conversation) => conversations.added(conversation));
socket.on("conversation:update", (conversation) => conversations.updated(conversation));
socket.on("quota:update", (next) => quota.update(next));
socket.on("message:read", (payload) => chat && chat.receipts(payload, "read"));
socket.on("message:delivered", (payload) => chat && chat.receipts(payload, "delivered"));
socket.on("typing", (payload) => chat && chat.typing(payload));

// Points granted meanwhile (`flask points grant`) show when the tab is looked at again.
let quotaAskedAt = 0;
function refreshQuota() {
  if (document.visibilityState !== "visible" || Date.now() - quotaAskedAt < 1000) return;
  quotaAskedAt = Date.now();
  quota.load().catch(() => {});
}
document.addEventListener("visibilitychange", refreshQuota);
window.addEventListener("focus", refreshQuota);

async function start() {
  outbox.kick();
  new PushControl({ onLeave: () => socket.disconnect() }).start().catch(() => {});
  conversations.bind();
  new SearchPanel({ me, conversations, conversationCost: Number(data.conversationCost || 0), keepInUrl: onSearchPage }).bind();
  await Promise.all([quota.load(), conversations.load()]);
  if (!openId) return;
  const [conversation] = await conversations.lookup([openId]).catch(() => [null]);
  if (!conversation) {
    setTitle("Conversation not found");
    document.getElementById("composer").hidden = true;
    return;
  }
  // An archived chat opens with the archived list beside it, where its row is.
  if (conversation.archived && !conversations.archivedView()) {
    conversations.view = "archived";
    conversations.load().catch(() => {});
  }
  setTitle(otherParticipant(conversation, me.id));
  closeNotificationsWhileSeen(openId);
  chat = new ChatView({ conversationId: openId, me, socket, onRead: (id, left) => conversations.markRead(id, left) });
  chat.setParticipants(conversation);
  const settings = new ChatSettings({ me, conversations });
  settings.bind();
  settings.show(conversation);
  conversations.onUpdate((changed) => {
    if (changed.id === openId) settings.show(changed);
  });
  // Joining tells who is typing here now (shown at once after a reload); again after a reconnect.
  const join = () => socket.emit("join", { conversationId: openId }, (ack) => chat.joined(ack));
  if (socket.connected) join();
  socket.on("connect", join);
  const composer = new Composer({
    maxLength: Number(data.maxLength),
    minHours: Number(data.minHours),
    maxHours: Number(data.maxHours),
    quota,
    onTyping: () => chat.userTyped(),
    waiting: () => outbox.waiting(),
    userId: me.id,
    enqueue: (draft) => {
      chat.stoppedTyping();
      outbox.add({ ...draft, conversationId: openId });
    },
  });
  composer.bind();
  composer.attachments = new AttachmentTray().bind(); // attach button, drop, paste: files sent with the text
  await chat.load({ around: new URLSearchParams(window.location.search).get("m") || undefined });
  const actions = {
    retry: (id) => outbox.retry(id),
    discard: (id) => {
      outbox.discard(id);
      composer.input.focus();
    },
    edit: (id) => {
      const item = outbox.discard(id);
      if (item) composer.restore(item.content);
      if (item) composer.attachments.restore(item.attachments);
    },
  };
  const showOutbox = () => chat.showOutbox(outbox.of(openId), actions);
  outbox.onChange(showOutbox);
  showOutbox();
  document.getElementById("message-input").focus();
}

start().catch((error) => {
  const state = document.getElementById("connection-state");
  state.textContent = error.message || "Something went wrong loading this page.";
});
