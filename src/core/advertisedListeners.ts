/**
 * Parsing and rewriting of Kafka listener lists such as
 *   INTERNAL://$(MY_POD_NAME).kafka-headless.ns.svc:9093,CLIENT://${POD_IP}:9092
 *   EXTERNAL://${HOST_IP}:$((31090 + ${KAFKA_BROKER_ID}))
 *   CLIENT://[fd00::1]:9092
 * Hosts and ports may hold Kubernetes `$(VAR)` references, shell `${VAR}` references and shell
 * arithmetic, so separators are only honoured outside brackets. Rewriting replaces the text of one
 * entry and leaves every other byte of the list as it was.
 */

export interface Listener {
  name: string;
  host: string;
  port: string;
  /** Offsets of the entry in the list it was parsed from. */
  start: number;
  end: number;
}

const OPEN_PAREN = 40;
const CLOSE_PAREN = 41;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/** Splits `text` at `separator` characters that are not nested inside (), {} or []. */
function splitTopLevel(text: string, separator: string): { part: string; start: number }[] {
  const parts: { part: string; start: number }[] = [];
  const sep = separator.charCodeAt(0);
  // Expected closers, innermost last (char codes: no string per character).
  const closers: number[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === OPEN_PAREN) closers.push(CLOSE_PAREN);
    else if (ch === OPEN_BRACE) closers.push(CLOSE_BRACE);
    else if (ch === OPEN_BRACKET) closers.push(CLOSE_BRACKET);
    else if (closers.length > 0 && ch === closers[closers.length - 1]) closers.pop();
    else if (ch === sep && closers.length === 0) {
      parts.push({ part: text.slice(start, i), start });
      start = i + 1;
    }
  }
  parts.push({ part: text.slice(start), start });
  return parts;
}

/** Parses one `NAME://host:port` entry; returns undefined for anything else. */
export function parseListener(entry: string, start = 0): Listener | undefined {
  const match = /^\s*([A-Za-z0-9_]+):\/\/(.*?)\s*$/s.exec(entry);
  if (!match) return undefined;
  const [, name = '', address = ''] = match;
  let host: string;
  let port: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0 || address.charAt(close + 1) !== ':') return undefined;
    host = address.slice(0, close + 1);
    port = address.slice(close + 2);
  } else {
    const pieces = splitTopLevel(address, ':');
    if (pieces.length < 2) return undefined;
    const last = pieces.at(-1);
    if (last === undefined) return undefined;
    host = address.slice(0, last.start - 1);
    port = last.part;
  }
  if (port === '') return undefined;
  return { name, host, port, start, end: start + entry.length };
}

/** Parses a comma-separated listener list; entries that do not parse are skipped. */
export function parseListeners(list: string): Listener[] {
  const listeners: Listener[] = [];
  for (const { part, start } of splitTopLevel(list, ',')) {
    if (part.trim() === '') continue;
    const listener = parseListener(part, start);
    if (listener) listeners.push(listener);
  }
  return listeners;
}

export function findListener(list: string, name: string): Listener | undefined {
  return parseListeners(list).find((l) => l.name.toUpperCase() === name.toUpperCase());
}

/** True when the host is a variable reference (kubelet `$(X)` or shell `${X}` / `$X`). */
export function isVariableHost(host: string): boolean {
  return host.includes('$');
}

/**
 * `host:port` for a listener. A literal IPv6 address needs brackets; a variable cannot be
 * bracketed conditionally here, but Kafka splits host and port at the last colon, so an
 * unbracketed IPv6 address expanded into `$(MY_HOST_IP):31980` still parses.
 */
export function formatAddress(host: string, port: number | string): string {
  const needsBrackets = host.includes(':') && !host.startsWith('[') && !isVariableHost(host);
  return `${needsBrackets ? `[${host}]` : host}:${String(port)}`;
}

/** Replaces the address of listener `name` in `list`; every other byte stays as it was. */
export function rewriteListener(list: string, name: string, address: string): string {
  const listener = findListener(list, name);
  if (!listener) throw new Error(`listener ${name} not found in ${list}`);
  return rewriteParsedListener(list, listener, address);
}

/** `rewriteListener` for a listener already parsed from `list` (no second parse). */
export function rewriteParsedListener(list: string, listener: Listener, address: string): string {
  const entry = list.slice(listener.start, listener.end);
  const leading = /^\s*/.exec(entry)?.[0] ?? '';
  const trailing = /\s*$/.exec(entry)?.[0] ?? '';
  return `${list.slice(0, listener.start)}${leading}${listener.name}://${address}${trailing}${list.slice(listener.end)}`;
}

/** Appends `NAME://address` to a list. */
export function appendListener(list: string, name: string, address: string): string {
  return list.trim() === '' ? `${name}://${address}` : `${list},${name}://${address}`;
}

/** Listener names that by convention face clients outside the cluster. */
export const OUTSIDE_LISTENER_NAMES = ['EXTERNAL', 'OUTSIDE'];

/**
 * SPEC §4 `auto`: the listener that already targets the outside (EXTERNAL, OUTSIDE, or one
 * advertising one fixed host for every broker), else CLIENT; undefined means "add EXTERNAL".
 * The inter-broker listener is never chosen: brokers must keep reaching each other in-cluster.
 */
export function chooseListener(
  listeners: Listener[],
  requested: string,
  interBrokerListener: string | undefined,
): Listener | undefined {
  const interBroker = interBrokerListener?.toUpperCase();
  const candidates = listeners.filter((l) => l.name.toUpperCase() !== interBroker);
  if (requested !== 'auto') return candidates.find((l) => l.name.toUpperCase() === requested.toUpperCase());
  return (
    candidates.find((l) => OUTSIDE_LISTENER_NAMES.includes(l.name.toUpperCase())) ??
    candidates.find((l) => l.host !== '' && !isVariableHost(l.host)) ??
    candidates.find((l) => l.name.toUpperCase() === 'CLIENT')
  );
}
