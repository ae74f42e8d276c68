/** The order in which an instance asks its sentinels, and how each answer changes it. Pure. */
import { formatAddress } from '../protocol/address.js'

/** A sentinel in a TwiceRedis' list: configured, or learned from the others' answers. */
export interface KnownSentinel {
  host: string
  port: number
  learned: boolean
  /** When an answer last mentioned it (ms since epoch); configured ones are never dropped. */
  lastSeen: number
}

/**
 * The list after an answer: sentinels it reports that the list lacks are added at the end (in
 * random order among themselves, so the list stays shuffled per instance) if `allowed`; those
 * it reports are marked seen; learned ones not seen for `goneMs` are dropped. Order is kept.
 */
export function refreshSentinels(
  known: readonly KnownSentinel[],
  reported: readonly { host: string; port: number }[],
  now: number,
  {
    goneMs,
    allowed = () => true,
    random = Math.random,
  }: { goneMs: number; allowed?: (host: string) => boolean; random?: () => number },
): KnownSentinel[] {
  const key = (s: { host: string; port: number }) => formatAddress(s.host, s.port)
  const seen = new Set(reported.map(key))
  const kept = known
    .map((s) => (seen.has(key(s)) ? { ...s, lastSeen: now } : s))
    .filter((s) => !s.learned || now - s.lastSeen <= goneMs)
  const have = new Set(kept.map(key))
  const added = reported
    .filter((s, i) => !have.has(key(s)) && allowed(s.host) && reported.findIndex((r) => key(r) === key(s)) === i)
    .map((s) => ({ host: s.host, port: s.port, learned: true, lastSeen: now }))
  return [...kept, ...shuffle(added, random)]
}

/** Fisher-Yates shuffle into a new array. */
export function shuffle<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

/** `list` with the first item `is` picks moved to the front. */
export function toFront<T>(list: readonly T[], is: (item: T) => boolean): T[] {
  const item = list.find(is)
  return item === undefined ? [...list] : [item, ...list.filter((s) => s !== item)]
}

/** `list` with the first item `is` picks moved to the back: a sentinel whose answer was refused is asked last. */
export function toBack<T>(list: readonly T[], is: (item: T) => boolean): T[] {
  const item = list.find(is)
  return item === undefined ? [...list] : [...list.filter((s) => s !== item), item]
}

/** `list` with the items `refused` picks behind the others, each part in its order (newly learned sentinels go before refused ones). */
export function refusedLast<T>(list: readonly T[], refused: (item: T) => boolean): T[] {
  return [...list.filter((s) => !refused(s)), ...list.filter(refused)]
}
