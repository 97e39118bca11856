// The Socket.IO connection: cookie auth, a visible connection state, catch-up on reconnect.
import { io } from "/vendor/socket.io.esm.min.js";
import { goToLogin } from "./api.js";
import { byId, setText } from "./dom.js";

const AUTH_FAILURES = new Set(["unauthorized", "invalid_token", "token_expired", "token_revoked"]);
const LABELS = { connected: "Connected", reconnecting: "Reconnecting…", offline: "Offline" };

function showState(state) {
  const element = byId("connection-state");
  element.dataset.state = state;
  setText(element, LABELS[state]);
}

export function openSocket({ onReconnect }) {
  const socket = io({ transports: ["websocket"], reconnectionDelay: 500, reconnectionDelayMax: 3000 });
  let connectedBefore = false;
  socket.on("connect", () => {
    showState("connected");
    if (connectedBefore) onReconnect();
    connectedBefore = true;
  });
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") {
      // The server closed this session (logout elsewhere, revoked token).
      showState("offline");
      goToLogin();
      return;
    }
    showState("reconnecting");
  });
  socket.on("connect_error", (error) => {
    const code = error && error.data && error.data.code;
    if (AUTH_FAILURES.has(code)) {
      showState("offline");
      goToLogin();
      return;
    }
    showState("reconnecting");
  });
  window.addEventListener("offline", () => showState("reconnecting"));
  return socket;
}
