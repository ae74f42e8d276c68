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
 * Where the record has a gap (the process did not sample: it just started, or its read side was
 * idle), it cannot date a replica, and unknown is not fresh: the replica's own word on its master
 * link bounds it (a link down for 5 s counts as 5 s stale), and only a replica whose link is up
 * counts as the record's lower bound meanwhile (see {@link stalenessMs}).
 *
 * Offsets compare within one replication history only, and the record follows the history, not
 * the address: a new master that continued it (a failover: its `master_replid2`) keeps the
 * samples; a master sample naming another history starts a new record, also at the same address;
 * a replica whose `INFO` names a history the master's does not contain at its offset (see
 * {@link comparable}) is unboundedly stale.
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

/** What a replica's own report adds to its offset: its history and its master link. */
export interface ReplicaSeen {
  /** The history its `INFO` named, if it did. */
  history?: History | undefined
  /** How long its master link had been down when it was seen (ms): 0 while up, infinite if it never came up. */
  linkDownMs?: number | undefined
}

/**
 * The master's replication offset over the last `keepMs`, in one replication history: the one
 * record of the master's offset (a TwiceRedis' Resolver holds it; without `maxStalenessMs` it
 * keeps only the latest, which metrics' replica lag reads). `gapMs`: samples further apart than
 * this leave a gap in the record (see {@link stalenessMs}).
 */
export class OffsetHistory {
  #master: string | undefined
  /** The master's history, as its latest sample that named one said. */
  #history: History | undefined
  #samples: Sample[] = []
  #latestSource: OffsetSource | undefined
  #watchedSince: number | undefined

  constructor(
    readonly keepMs: number,
    readonly gapMs = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * The process' sampler asks the master every interval from `since` on (`undefined`: no more):
   * until a sample says otherwise the master is taken as not past the offsets seen since then,
   * also while it does not answer (a dead master takes no writes).
   */
  watching(since: number | undefined): void {
    this.#watchedSince = since
  }

  /**
   * The master at `master` reported `offset` at time `at` (ms), as `source` saw it, on `history`
   * when it said. A master on a history that does not continue this one starts a new record.
   */
  add(master: string, offset: number, at: number, source: OffsetSource, history?: History): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || !this.#admit(master, history)) return
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
    // One sample older than keepMs stays: a replica behind all of them is at least that stale.
    while (samples.length > 2 && samples[1]!.at < at - this.keepMs) samples.shift()
  }

  /**
   * Whether a sample of `master` (on `history`, when named) belongs to this record; one that
   * starts a new record clears it first. Records follow replication IDs, not addresses: after a
   * failover the new master continued this history (its `master_replid2`), so the samples stay,
   * less those past the switch (writes of the old master the new one never had). A sample naming
   * no history (`ROLE`, the sentinels' cache) from another node waits for that node's `INFO`;
   * without any history known, addresses tell masters apart.
   */
  #admit(master: string, history: History | undefined): boolean {
    const mine = this.#history
    if (!history) {
      if (master !== this.#master && mine) return false
      if (master !== this.#master) this.#restart(master)
      return true
    }
    if (mine && history.replid2 === mine.replid && history.switchAt !== undefined) {
      const switchAt = history.switchAt
      this.#samples = this.#samples.filter((s) => s.offset < switchAt)
    } else if (mine && history.replid === mine.replid2) {
      return false // the old master, not yet demoted: this record has moved on
    } else if (mine ? history.replid !== mine.replid : master !== this.#master) {
      this.#restart(master)
    }
    this.#master = master
    this.#history = history
    return true
  }

  #restart(master: string | undefined): void {
    this.#master = master
    this.#history = undefined
    this.#samples = []
  }

  /** Forget everything (the client stopped tracking). */
  clear(): void {
    this.#restart(undefined)
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
   * How stale (ms) a replica seen at `offset` at time `at` is (see {@link stalenessMs});
   * `undefined` when nothing tells; infinite on a history not the master's.
   */
  estimate(offset: number, at: number, seen: ReplicaSeen = {}): number | undefined {
    const mine = this.#history
    if (seen.history && mine && !comparable(seen.history, offset, mine)) return Number.POSITIVE_INFINITY
    return stalenessMs(this.#samples, offset, at, {
      linkDownMs: seen.linkDownMs ?? 0,
      watchedSince: this.#watchedSince,
      gapMs: this.gapMs,
    })
  }
}

/**
 * The estimate over `samples` (time order) for a replica seen at `offset` at `at`: `at` minus the
 * last time the master was seen at or below `offset` before it was first seen past it (the stale
 * end of that interval); 0 when no sample up to `at` shows the master past it.
 *
 * Where the record has a gap (no sample for longer than `gapMs` where it would matter: the process
 * did not sample, it just started or its read side was idle) it cannot date the replica, and the
 * replica's own word on its link bounds it: a link down for `linkDownMs` has let nothing through
 * for that long, and counts as that stale (it is at most that stale, and taken as the stale end);
 * a replica whose link is up counts as the record's lower bound (0 if none). So does one behind
 * every sample (its lower bound: `at` minus the oldest). `undefined`: no sample and the link up.
 */
export function stalenessMs(
  samples: readonly Sample[],
  offset: number,
  at: number,
  gap: { linkDownMs?: number; watchedSince?: number | undefined; gapMs?: number } = {},
): number | undefined {
  if (!Number.isFinite(offset)) return undefined
  const { linkDownMs = 0, watchedSince, gapMs = Number.POSITIVE_INFINITY } = gap
  let caughtUp: Sample | undefined
  for (const s of samples) if (s.offset <= offset) caughtUp = s
  if (caughtUp && caughtUp.at >= at) return 0
  const ahead = samples.find((s) => s.offset > offset && s.at <= at && (!caughtUp || s.at > caughtUp.at))
  const since = (s: Sample) => Math.max(0, Math.round(at - s.at))
  if (!caughtUp) {
    if (ahead) return Math.max(since(ahead), linkDownMs)
    return linkDownMs > 0 ? linkDownMs : undefined
  }
  if (ahead) {
    if (ahead.at - caughtUp.at <= gapMs) return since(caughtUp)
    return Math.min(since(caughtUp), Math.max(since(ahead), linkDownMs))
  }
  if ((watchedSince !== undefined && caughtUp.at >= watchedSince) || at - caughtUp.at <= gapMs) return 0
  return Math.min(since(caughtUp), linkDownMs)
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
