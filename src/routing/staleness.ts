/**
 * `maxStalenessMs`: how far behind the master a replica is, in time, from replication offsets.
 *
 * A replica's offset says how much of the master's replication stream it has applied. The client
 * keeps a short history of the master's offset (samples from the master side's health check,
 * `ROLE` replies under `consistency: 'session'`, and the sentinels' cached INFO), so that for a
 * replica seen at offset `o` at time `r` it can tell the last moment the master was known to be
 * at or below `o`: the replica has everything up to then. The estimate is `r` minus that moment,
 * or 0 when no sample up to `r` shows the master past `o` (caught up; an idle master, whose offset
 * moves only by its pings, does not make a replica look stale).
 *
 * The estimate errs on the stale side by at most the time between two master samples (one
 * health-check interval): the replica fell behind somewhere between the last sample at or below
 * its offset and the first one above it, and the earlier moment is taken. Hence the minimum of
 * `maxStalenessMs` (2 × `healthCheckIntervalMs`): a tighter bound would reject replicas that are
 * only one sample behind.
 *
 * Offsets compare within one replication history only. A master sample that names its history
 * (`INFO`: the health checks, the sampler) and names another one than the samples before starts
 * a new record, also at the same address; a replica whose `INFO` names a history the master's
 * does not contain at its offset (see {@link comparable}) is unboundedly stale.
 */
import type { History } from '../protocol/node-info.js'

/** Samples closer together than this replace each other (ROLE replies may come every tick). */
const MIN_GAP_MS = 10

/**
 * Where a sample of the master's offset came from: the process' own sampler (master-sampler.ts),
 * the write side's health and role checks, the session's ROLEs, the sentinels' cached INFO, or
 * `topology()`'s own INFO.
 */
export type OffsetSource = 'sampler' | 'master-check' | 'session' | 'sentinels' | 'topology'

interface Sample {
  offset: number
  at: number
}

/**
 * The master's replication offset over the last `keepMs`, per master address: the one record of
 * the master's offset (a TwiceRedis' Resolver holds it; without `maxStalenessMs` it keeps only the
 * latest, which metrics' replica lag reads).
 */
export class OffsetHistory {
  #master: string | undefined
  /** The master's history, as its latest sample that named one said. */
  #history: History | undefined
  #samples: Sample[] = []
  #latestSource: OffsetSource | undefined

  constructor(readonly keepMs: number) {}

  /**
   * The master at `master` reported `offset` at time `at` (ms), as `source` saw it. A new master
   * starts a new history.
   */
  add(master: string, offset: number, at: number, source: OffsetSource, history?: History): void {
    if (!Number.isSafeInteger(offset) || offset < 0) return
    const newHistory = history && this.#history && history.replid !== this.#history.replid
    if (master !== this.#master || newHistory) {
      this.#master = master
      this.#samples = []
      this.#history = undefined
    }
    if (history) this.#history = history
    const samples = this.#samples
    // Keep time order: a sample from the past (the sentinels' cache) goes where it belongs.
    let i = samples.length
    while (i > 0 && samples[i - 1]!.at > at) i--
    if (i === samples.length) this.#latestSource = source
    const before = samples[i - 1]
    const beforeThat = samples[i - 2]
    if (before && i === samples.length) {
      // An idle master: of a run of equal offsets only the first and the last sample matter.
      if (before.offset === offset && beforeThat?.offset === offset) {
        before.at = at
        return
      }
      if (at - before.at < MIN_GAP_MS && beforeThat) {
        before.offset = Math.max(before.offset, offset)
        before.at = at
        return
      }
    }
    samples.splice(i, 0, { offset, at })
    while (samples.length > 1 && samples[0]!.at < at - this.keepMs) samples.shift()
  }

  /** Forget everything (the master changed, or the client stopped tracking). */
  clear(): void {
    this.#master = undefined
    this.#history = undefined
    this.#samples = []
    this.#latestSource = undefined
  }

  /** The master's latest offset known (the newest sample), if any. */
  get latest(): number | undefined {
    return this.#samples.at(-1)?.offset
  }

  /** Where the newest sample came from, if there is one. */
  get latestSource(): OffsetSource | undefined {
    return this.#samples.length > 0 ? this.#latestSource : undefined
  }

  /** The samples, oldest first (for tests and reports). */
  get samples(): readonly Readonly<Sample>[] {
    return this.#samples
  }

  /**
   * How stale (ms) a replica seen at `offset` at time `at` (on `history`, when its INFO said) is;
   * `undefined` when there is no sample to compare with; infinite on a history not the master's.
   */
  estimate(offset: number, at: number, history?: History): number | undefined {
    if (history && this.#history && !comparable(history, offset, this.#history)) return Number.POSITIVE_INFINITY
    return stalenessMs(this.#samples, offset, at)
  }
}

/**
 * The estimate over `samples` (time order): `at` minus the last time the master was seen at or
 * below `offset` before it was first seen past it; 0 when no sample up to `at` is past it; when
 * every sample is past it, `at` minus the oldest (it is at least that stale).
 */
export function stalenessMs(samples: readonly Sample[], offset: number, at: number): number | undefined {
  if (samples.length === 0 || !Number.isFinite(offset)) return undefined
  const ahead = samples.findIndex((s) => s.offset > offset && s.at <= at)
  if (ahead === -1) return 0
  const caughtUp = samples[ahead - 1]
  return Math.max(0, Math.round(at - (caughtUp ?? samples[0]!).at))
}

/**
 * Whether a replica at `offset` on `replica`'s history has a prefix of the `master`'s: the same
 * history; the one the master continued (before its switch); or one that continued the master's
 * (a replica of a newer master: compared by offset, the master's samples being the older word).
 */
export function comparable(replica: History, offset: number, master: History): boolean {
  if (replica.replid === master.replid || replica.replid2 === master.replid) return true
  return replica.replid === master.replid2 && offset < (master.switchAt ?? 0)
}
