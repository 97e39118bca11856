// The profile page: the display name (PATCH /api/auth/me) and the password (POST /api/auth/password).
import { api, ApiError } from "./api.js";
import { avatar } from "./avatar.js";
import { byId, setText } from "./dom.js";

const data = document.body.dataset;

function showAvatar(displayName) {
  byId("profile-avatar").replaceChildren(avatar({ id: data.userId, username: data.username, displayName }, "large"));
}

// An error beside its field (and the field marked invalid), or none.
function fieldError(inputId, text) {
  const input = byId(inputId);
  const error = byId(`${inputId}-error`);
  setText(error, text || "");
  error.hidden = !text;
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== error.id);
  if (text) {
    input.setAttribute("aria-invalid", "true");
    described.push(error.id);
  } else input.removeAttribute("aria-invalid");
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  else input.removeAttribute("aria-describedby");
}

function fieldMessages(error) {
  return (error.details && error.details.fields) || [];
}

function retryText(error) {
  const seconds = Number(error.details && error.details.retryAfter);
  return seconds ? `Too many attempts. Try again in ${seconds} seconds.` : "Too many attempts. Try again later.";
}

byId("profile-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = byId("profile-status");
  const input = byId("display-name");
  fieldError("display-name", "");
  setText(status, "Saving…");
  try {
    const { data: body } = await api("PATCH", "/api/auth/me", { displayName: input.value });
    setText(byId("profile-name"), body.user.displayName);
    input.value = body.user.displayName;
    showAvatar(body.user.displayName);
    setText(status, "Saved.");
  } catch (error) {
    setText(status, "");
    const field = fieldMessages(error).find((f) => f.field === "displayName");
    fieldError("display-name", field ? `Display name ${field.message}.`.replace(/\.\.$/, ".") : error.message);
    input.focus();
  }
});

byId("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = byId("password-status");
  const current = byId("current-password");
  const next = byId("new-password");
  fieldError("current-password", "");
  fieldError("new-password", "");
  if (!current.value) {
    fieldError("current-password", "Enter your current password.");
    current.focus();
    return;
  }
  setText(status, "Changing…");
  try {
    await api("POST", "/api/auth/password", { currentPassword: current.value, newPassword: next.value });
    current.value = "";
    next.value = "";
    setText(status, "Password changed. Your other sessions were signed out.");
  } catch (error) {
    setText(status, "");
    if (!(error instanceof ApiError)) throw error;
    if (error.code === "wrong_password") {
      fieldError("current-password", error.message);
      current.focus();
    } else if (error.code === "rate_limited") {
      fieldError("current-password", retryText(error));
    } else {
      const fields = fieldMessages(error);
      const newField = fields.find((f) => f.field === "newPassword");
      const currentField = fields.find((f) => f.field === "currentPassword");
      if (currentField) fieldError("current-password", `Current password: ${currentField.message}`);
      fieldError("new-password", newField ? `New password: ${newField.message}` : fields.length ? "" : error.message);
      (currentField ? current : next).focus();
    }
  }
});

showAvatar(byId("profile-name").textContent);
