// The colour theme: the system's (prefers-color-scheme) unless the person chose one with the
// toggle, remembered in localStorage. A classic script in <head> (no inline script under the
// CSP): it runs before the body is painted, so a chosen theme shows without a flash; the
// toggle buttons ([data-theme-toggle]) are wired once the page is parsed.
(function theme() {
  const KEY = "theme";
  const root = document.documentElement;
  const media = window.matchMedia("(prefers-color-scheme: dark)");

  function chosen() {
    try {
      const value = localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch {
      return null;
    }
  }

  function current() {
    return chosen() || (media.matches ? "dark" : "light");
  }

  function apply() {
    const choice = chosen();
    if (choice) root.dataset.theme = choice;
    else delete root.dataset.theme;
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      button.setAttribute("aria-pressed", String(current() === "dark"));
    }
  }

  function toggle() {
    const next = current() === "dark" ? "light" : "dark";
    try {
      localStorage.setItem(KEY, next);
    } catch {
      root.dataset.theme = next; // storage refused: this page only
      return;
    }
    apply();
  }

  apply();
  media.addEventListener("change", apply);
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) apply();
  });
  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("[data-theme-toggle]")) button.addEventListener("click", toggle);
    apply();
  });
})();
