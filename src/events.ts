/** Where a side connects now, and the role the node must report once connected. */
export interface Target {
  /** Where the socket goes (after `natMap`). */
  host: string
  port: number
  /** `host:port` as the sentinels announce it. */
  address: string
  /** The host as the sentinels announce it (what a TLS certificate is checked against). */
  announcedHost: string
  role: 'master' | 'replica'
}

/** `master` for the write side, `replica` for the read side. */
export type Side = 'master' | 'replica'

/** Events of a TwiceRedis. Payloads carry addresses, never secrets. */
export interface TwiceRedisEvents {
  /**
   * A side resolved a node through a sentinel (every connect and reconnect). `zone`: the node's
   * zone when known; `zoneReason`: with `clientZone`, why the read side is outside it.
   */
  resolved: [
    {
      side: Side
      address: string
      role: 'master' | 'replica'
      sentinel: string
      zone?: string | undefined
      zoneReason?: string | undefined
    },
  ]
  /** The write side now uses a master other than the one before. */
  'master-changed': [{ from: string | undefined; to: string }]
  /** The read side now uses another replica. */
  'replica-changed': [{ from: string | undefined; to: string }]
  /** No replica was eligible, so the read side uses the master; `reason` says why none was. */
  'fallback-to-master': [{ master: string; reason: string }]
  /** A sentinel did not answer a discovery (refused, timed out, auth); the next one is tried. */
  'sentinel-unreachable': [{ sentinel: string; reason: string }]
  /**
   * A sentinel's answer was not taken: the master it named (`host:port` as announced) is outside
   * `allowedNodes`, older than the highest config epoch seen (another sentinel named another
   * master since), or refused by the node itself (role check) or unreachable. That sentinel moves
   * to the back of this instance's order; the others are asked first.
   */
  'sentinel-answer-refused': [{ sentinel: string; master: string; reason: string }]
  /**
   * A node was refused after connecting (wrong role, broken link) or failed to connect.
   * `stalenessMs`: the estimate, when it was refused for `maxStalenessMs`.
   */
  'node-rejected': [{ side: Side; address: string; reason: string; stalenessMs?: number | undefined }]
  /**
   * With `consistency: 'session'` (or after `readAfter()`): reads the replica could not serve
   * fresh within `consistencyTimeoutMs` went to the master instead.
   */
  'read-from-master': [{ replica: string | undefined; reason: string; waitedMs: number }]
  /**
   * With `failoverDetection: 'always'`: the sentinels started replacing the master (`reason`: the
   * first event heard, e.g. `+odown`, `+try-failover`; `sentinel`: who said it), so this write-side
   * client (`tr.master` or one of its duplicates) holds its writes instead of sending them to a
   * master whose acknowledged writes may be erased.
   */
  'write-fence': [{ master: string; reason: string; sentinel: string }]
  /**
   * The write fence is over: held writes (`held` of them, after `durationMs`) go to `to`.
   * `reason`: `promoted` (the new master answered as one), `+switch-master`/`+promoted-slave`,
   * `-odown` or `-failover-abort-*` (called off: back to the same master), or `timeout`
   * (`failoverFenceMs` passed: wherever the sentinels then said).
   */
  'write-unfence': [{ reason: string; to: string | undefined; held: number; durationMs: number; sentinel?: string }]
  /**
   * With `clientCache`: the cache was emptied because an invalidation may have been missed
   * (`reason`, see `FlushReason`); `entries`: how many it held.
   */
  'cache-flushed': [{ reason: FlushReason; entries: number }]
  /** An error of either data connection (ioredis' `error` events), with the side. */
  error: [Error & { side?: Side }]
}

/** The one way the layers below a TwiceRedis report to it: its own `emit`. */
export type Emit = <K extends keyof TwiceRedisEvents>(event: K, ...args: TwiceRedisEvents[K]) => void

/** Why the client cache was emptied (`cache-flushed` event, `twiceredis.cache.flushes` metric). */
export type FlushReason =
  /** `tr.slave`'s connection closed (any cause: a drop, a health verdict, `disconnect()`, idle, `quit()`). */
  | 'reconnect'
  /** The redirect connection of the tracking pair closed (CLIENT KILL, a drop): invalidations were lost. */
  | 'tracking-lost'
  /** Redis said everything changed: FLUSHALL/FLUSHDB, or a full resync of the replica. */
  | 'server-flush'
  /** The write side moved to another master. */
  | 'failover'
  /** The read side moved to another node (another replica, or the master as a fallback). */
  | 'node-change'
  /** The write fence rose: a failover is under way. */
  | 'write-fence'
