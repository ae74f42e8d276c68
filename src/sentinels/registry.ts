import type { ResolvedOptions } from '../options/normalize.js'
import { formatAddress } from '../protocol/address.js'
import type { Observation } from './sentinel-query.js'
import type { SharedAnswer } from './sentinels.js'
import { Watch } from './watch.js'

/**
 * What every TwiceRedis of a process on the same sentinel set shares: the discovery in flight
 * (with everyone waiting on it, so each hears which sentinels failed), the latest answer, and
 * the sentinel watch. The registry owns them; `Sentinels` and `Watch` get what they need from it
 * and never import it.
 */
export interface SentinelSet extends SharedAnswer {
  watch?: Watch | undefined
}

/**
 * How long a master replaced by an announcement stays retired: sentinels that have not heard of
 * the switch yet (up to a hello period, or an `INFO` period of the leader after a promotion it did
 * not see yet) still name it, and it still answers as master until they demote it.
 */
export const RETIRE_MS = 15_000

const registry = new Map<string, SentinelSet>()

/**
 * `sentinel` announced `master` as the new master (`+switch-master`, the leader's
 * `+promoted-slave`, or the candidate of a fenced failover seen answering as master): from now on
 * the latest answer is the one before with that master, so the write side of every client of the
 * process goes there without asking a sentinel again. The replicas are those of the answer before,
 * less the promoted one (the read side asks afresh after a switch). The master before (`from`) is
 * retired: an answer still naming it is not taken for {@link RETIRE_MS}.
 */
export function announceMaster(
  set: SentinelSet,
  master: Observation['master'],
  sentinel: string,
  from?: string | undefined,
): void {
  const last = set.last
  const old = from ?? last?.value.master.address
  if (old && old !== master.address) set.retired = { address: old, master, until: Date.now() + RETIRE_MS }
  if (last?.value.master.address === master.address) return
  const value: Observation = last
    ? { ...last.value, replicas: last.value.replicas.filter((r) => r.address !== master.address) }
    : { sentinel, master, replicas: [], sentinels: [] }
  // The old master's offset stays: the promoted node continues its stream from at most there, so a
  // lag gate judged against it is, if anything, stricter (never skipped for want of an offset).
  set.last = { at: Date.now(), value: { ...value, sentinel, master, announced: true, refused: undefined } }
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

/** The process-wide watch of these options' sentinel set. */
export function watchFor(o: ResolvedOptions): Watch {
  const set = sentinelSetFor(o)
  set.watch ??= new Watch(o, {
    announce: (master, sentinel, from) => announceMaster(set, master, sentinel, from),
    current: () => set.last?.value.master.address,
    idle: () => {
      set.watch = undefined
    },
  })
  return set.watch
}

/**
 * What makes two TwiceRedis of a process share sentinel work: same master, sentinels and
 * credentials, and a discovery that asks the same questions within the same bound (one with
 * `maxLagBytes` also asks `SENTINEL INFO-CACHE`; an answer without it would skip the lag gate),
 * a watch that fences for as long, and the same rules for taking an answer (`allowedNodes`, and
 * `natMap`: the same object or function, or an object with the same entries).
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
    o.failoverFenceMs,
    o.allowedNodes?.entries ?? null,
    typeof o.natMap === 'function' ? identity(o.natMap) : (o.natMap ?? null),
  ])
}

const identities = new WeakMap<object, number>()
let lastIdentity = 0

/** A number per function for the life of the process (what a key can say of a function). */
function identity(fn: object): string {
  let id = identities.get(fn)
  if (id === undefined) {
    id = ++lastIdentity
    identities.set(fn, id)
  }
  return `function#${id}`
}
