// "Show" buttons beside password fields: they switch the field between hidden and plain text.
// Hidden in the page until this module runs (without it they would do nothing).
for (const button of document.querySelectorAll("button[data-reveal]")) {
  const input = document.getElementById(button.dataset.reveal);
  if (!input) continue;
  button.hidden = false;
  button.addEventListener("click", () => {
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    button.setAttribute("aria-pressed", String(show));
    button.textContent = show ? "Hide" : "Show";
    input.focus();
  });
}
