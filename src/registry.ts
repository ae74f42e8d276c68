import type { ResolvedOptions } from './options.js'
import type { Observation } from './sentinels.js'
import { formatAddress } from './topology.js'
import type { Watch } from './watch.js'

/** Told when a sentinel did not answer a discovery. */
export type FailureListener = (sentinel: string, error: unknown) => void

/**
 * What every TwiceRedis of a process on the same sentinel set shares: the discovery in flight
 * (with everyone waiting on it, so each hears which sentinels failed), the latest answer, and
 * the sentinel watch while any client is in an outage.
 */
export interface SentinelSet {
  inflight?: { query: Promise<Observation>; listeners: Set<FailureListener> } | undefined
  /** The latest answer, which automatic retries and health checks may reuse for a short while. */
  last?: { at: number; value: Observation } | undefined
  watch?: Watch | undefined
}

const registry = new Map<string, SentinelSet>()

/**
 * `sentinel` announced `master` as the new master (`+switch-master`, or the leader's
 * `+promoted-slave`): from now on the latest
 * answer is the one before with that master, so the write side of every client of the process
 * goes there without asking a sentinel again. The replicas are those of the answer before, less
 * the promoted one (the read side asks afresh after a switch).
 */
export function announceMaster(set: SentinelSet, master: Observation['master'], sentinel: string): void {
  const last = set.last
  if (!last || last.value.master.address === master.address) return
  const replicas = last.value.replicas.filter((r) => r.address !== master.address)
  // The old master's offset stays: the promoted node continues its stream from at most there, so a
  // lag gate judged against it is, if anything, stricter (never skipped for want of an offset).
  set.last = { at: Date.now(), value: { ...last.value, sentinel, master, replicas, announced: true } }
}

/** The node at `address` said it is not the master: no client of the process may reuse an answer naming it. */
export function forgetMaster(set: SentinelSet, address: string): void {
  if (set.last?.value.master.address === address) set.last = undefined
}

/** The process-wide entry for these options' sentinel set. */
export function sentinelSetFor(o: ResolvedOptions): SentinelSet {
  const key = sentinelKey(o)
  let entry = registry.get(key)
  if (!entry) {
    entry = {}
    registry.set(key, entry)
  }
  return entry
}

/**
 * What makes two TwiceRedis of a process share sentinel work: same master, sentinels and
 * credentials, and a discovery that asks the same questions within the same bound (one with
 * `maxLagBytes` also asks `SENTINEL INFO-CACHE`; an answer without it would skip the lag gate).
 */
export function sentinelKey(o: ResolvedOptions): string {
  return JSON.stringify([
    o.name,
    o.sentinels.map((s) => formatAddress(s.host, s.port)).sort(),
    o.sentinelUsername,
    o.sentinelPassword,
    Boolean(o.sentinelTls),
    o.sentinelTimeoutMs,
    o.maxLagBytes !== undefined,
  ])
}
