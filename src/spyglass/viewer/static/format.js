// Numbers as the pages show them (the server's _format.py agrees for the models page).

export function duration(ns) {
  if (ns === null || ns === undefined) return "–";
  if (ns < 1e6) return `${Math.round(ns / 1e3)}µs`;
  if (ns < 1e9) return `${Math.round(ns / 1e6)}ms`;
  if (ns < 60e9) return `${(ns / 1e9).toFixed(2)}s`;
  const seconds = ns / 1e9;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
}

export function tokens(count) {
  return count === null || count === undefined ? "–" : count.toLocaleString("en-US");
}

export function cost(usd) {
  if (usd === null || usd === undefined) return "unknown";
  if (usd === 0) return "$0";
  if (usd < 0.000001) return "<$0.000001";
  if (usd < 0.01) return `$${usd.toFixed(6).replace(/0+$/, "")}`;
  return `$${usd.toFixed(4)}`;
}

// Made once: toLocaleTimeString() builds a formatter on every call (~0.1 ms each, 50 of them per list page).
const CLOCK = new Intl.DateTimeFormat("en-GB", { hour: "numeric", minute: "numeric", second: "numeric", hour12: false });
const DAY = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "numeric", day: "numeric" });

/** Nanoseconds since the epoch as local time; the date only when it is not today. */
export function time(ns) {
  const date = new Date(Number(BigInt(ns) / 1000000n));
  const clock = CLOCK.format(date);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return clock;
  return `${DAY.format(date)} ${clock}`;
}

export function fullTime(ns) {
  const date = new Date(Number(BigInt(ns) / 1000000n));
  return date.toISOString();
}
