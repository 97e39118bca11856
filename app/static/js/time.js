// Dates for people, and timers that survive long delays.

const MAX_DELAY = 2 ** 31 - 1;

export function formatTime(iso) {
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const options = sameDay ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return date.toLocaleString(undefined, options);
}

// Call `callback` once the clock reaches `iso` (setTimeout caps at ~24.8 days).
export function at(iso, callback) {
  let handle = null;
  const arm = () => {
    const delay = new Date(iso).getTime() - Date.now();
    if (delay <= 0) {
      callback();
      return;
    }
    handle = setTimeout(arm, Math.min(delay, MAX_DELAY));
  };
  arm();
  return () => clearTimeout(handle);
}

// Call `callback` whenever the local day changes ("today" and "tomorrow" shift): at each
// midnight, and when the tab is looked at again (timers may sleep with the computer).
export function onNewDay(callback) {
  let day = new Date().toDateString();
  const check = () => {
    const today = new Date().toDateString();
    if (today === day) return;
    day = today;
    callback();
  };
  const arm = () => {
    const midnight = new Date();
    midnight.setHours(24, 0, 0, 0);
    setTimeout(() => {
      check();
      arm();
    }, midnight.getTime() - Date.now());
  };
  arm();
  document.addEventListener("visibilitychange", check);
  window.addEventListener("focus", check);
}

// A day (with the time) for a search result: "14:03" today, "Mar 3, 14:03" this year, else with the year.
export function formatDate(iso) {
  const date = new Date(iso);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return formatTime(iso);
  const options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  if (date.getFullYear() !== today.getFullYear()) options.year = "numeric";
  return date.toLocaleString(undefined, options);
}

// A timer's length for people: "1 hour", "8 hours", "7 days".
export function formatHours(hours) {
  if (hours >= 24 && hours % 24 === 0) {
    const days = hours / 24;
    return days === 1 ? "24 hours" : `${days} days`;
  }
  return hours === 1 ? "1 hour" : `${hours} hours`;
}

function sameDay(a, b) {
  return a.toDateString() === b.toDateString();
}

// The hour and minute only (the day is on the separator above): "14:03".
export function formatClock(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

// The full date and time, for a tooltip: "Saturday, November 29, 2026 at 2:03 PM".
export function formatFull(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
}

// A local calendar day, as a key: two messages of one day have the same.
export function dayKey(iso) {
  return new Date(iso).toDateString();
}

// A day separator's words: "Today", "Yesterday", "Friday, November 27" (with the year if another year).
export function dayLabel(iso, now = new Date()) {
  const date = new Date(iso);
  if (sameDay(date, now)) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, yesterday)) return "Yesterday";
  const options = { weekday: "long", month: "long", day: "numeric" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString(undefined, options);
}

// When a message disappears: "today at 14:05", "tomorrow at 09:00", "Sat, Dec 6 at 14:05".
export function formatWhen(iso, now = new Date()) {
  const date = new Date(iso);
  const clock = formatClock(iso);
  if (sameDay(date, now)) return `today at ${clock}`;
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  if (sameDay(date, tomorrow)) return `tomorrow at ${clock}`;
  const options = { weekday: "short", month: "short", day: "numeric" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return `${date.toLocaleDateString(undefined, options)} at ${clock}`;
}
