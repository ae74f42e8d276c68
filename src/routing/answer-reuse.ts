/** How old a sentinel answer a connect attempt may take instead of asking the sentinels afresh. Pure. */
import type { Side } from '../events.js'

/** How old a sentinel answer an automatic retry may reuse (shared by the clients of a process). */
export const RETRY_REUSE_MS = 250

/**
 * While the sentinel watch listens, write-side retries reuse an answer given since it started
 * listening, up to this old: the switch will be announced, and this slow poll only covers an
 * announcement that got lost.
 */
export const FALLBACK_POLL_MS = 3000

/**
 * How old a sentinel answer an attempt may take. A first connect asks afresh, as does the read
 * side right after a switch (its replicas changed). Other retries may take one a few hundred ms
 * old, shared by the clients of the process; on the write side, while the sentinel watch
 * listens (`listeningSince`), any answer given since then up to {@link FALLBACK_POLL_MS}: a
 * switch is announced (and the announcement becomes the latest answer), so retries in an
 * outage need not poll the sentinels.
 */
export function answerReuseMs(
  side: Side,
  attempt: { retry: boolean; afterSwitch: boolean },
  listeningSince: number | undefined,
  now = Date.now(),
): number {
  if (!attempt.retry || (side === 'replica' && attempt.afterSwitch)) return 0
  if (side === 'replica' || listeningSince === undefined) return RETRY_REUSE_MS
  return Math.max(RETRY_REUSE_MS, Math.min(FALLBACK_POLL_MS, now - listeningSince))
}
