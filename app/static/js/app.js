// The messenger page: wires the socket, the quota, the conversation list and the chat together.
import { api } from "./api.js";
import { ChatView } from "./chat.js";
import { Composer } from "./composer.js";
import { ConversationList, otherParticipant, setTitle } from "./conversations.js";
import { QuotaDisplay } from "./quota.js";
import { openSocket } from "./socket.js";

const data = document.body.dataset;
const me = { id: data.userId, username: data.username, displayName: data.displayName };
const openId = data.conversationId || null;

const quota = new QuotaDisplay();
const conversations = new ConversationList({ me, openId, conversationCost: Number(data.conversationCost || 0) });
let chat = null;

const socket = openSocket({
  onReconnect: async () => {
    await Promise.allSettled([conversations.load(), quota.load(), chat ? chat.catchUp() : null]);
  },
});

socket.on("message:new", (message) => {
  if (message.senderId !== me.id) socket.emit("message:ack", { messageIds: [message.id] });
  const seenNow = Boolean(chat && message.conversationId === openId && document.visibilityState === "visible");
  conversations.messageArrived(message, { seenNow });
  if (chat) chat.messageArrived(message);
});
socket.on("conversation:new", (conversation) => conversations.added(conversation));
socket.on("quota:update", (next) => quota.update(next));
socket.on("message:read", (payload) => chat && chat.receipts(payload, "read"));
socket.on("message:delivered", (payload) => chat && chat.receipts(payload, "delivered"));
socket.on("typing", (payload) => chat && chat.typing(payload));

async function start() {
  conversations.bindSearch();
  await Promise.all([quota.load(), conversations.load()]);
  if (!openId) return;
  const conversation = conversations.get(openId);
  if (!conversation) {
    setTitle("Conversation not found");
    document.getElementById("composer").hidden = true;
    return;
  }
  setTitle(otherParticipant(conversation, me.id));
  chat = new ChatView({ conversationId: openId, me, socket, onRead: (id) => conversations.markRead(id) });
  chat.setParticipants(conversation);
  const composer = new Composer({
    maxLength: Number(data.maxLength),
    minHours: Number(data.minHours),
    maxHours: Number(data.maxHours),
    quota,
    onTyping: () => chat.userTyped(),
    send: async (draft) => {
      chat.stoppedTyping();
      const body = { conversationId: openId, content: draft.content, clientMessageId: draft.clientMessageId, maxCost: draft.maxCost };
      if (draft.expirationHours) body.expirationHours = draft.expirationHours;
      const { data: sent } = await api("POST", "/api/messages/send", body);
      chat.messageArrived(sent.message);
      conversations.messageArrived(sent.message, { seenNow: true });
      quota.update(sent.quota);
    },
  });
  composer.bind();
  await chat.load();
  document.getElementById("message-input").focus();
}

start().catch((error) => {
  const state = document.getElementById("connection-state");
  state.textContent = error.message || "Something went wrong loading this page.";
});
