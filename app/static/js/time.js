// Dates for people, and timers that survive long delays.

const MAX_DELAY = 2 ** 31 - 1;

export function formatTime(iso) {
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const options = sameDay ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return date.toLocaleString(undefined, options);
}

export function formatDateTime(iso) {
  return new Date(iso).toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
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
