/** The options of a TwiceRedis as the application writes them: types and documentation. Read by normalize.ts. */
import type { ConnectionOptions } from 'node:tls'
import type { NatMap, RedisOptions } from 'ioredis'
import type { ReplicaSelection } from '../routing/replica-selection.js'

export type { NatMap }

/** A sentinel: `[host, port]`, `{ host, port }` or `'host:port'` (port defaults to 26379). */
export type SentinelInput = readonly [host: string, port: number] | { host: string; port?: number | undefined } | string

/** A sentinel address after normalization. */
export interface SentinelAddress {
  host: string
  port: number
}

/**
 * ioredis options for the data connections that twiceredis leaves to you. The ones twiceredis
 * owns (how and where to connect) are left out.
 */
export type DataRedisOptions = Omit<RedisOptions, (typeof owned)[number]>

/**
 * Options of {@link TwiceRedis}. Durations are in milliseconds. Every ioredis option of the data
 * connections is accepted here too, where ioredis users write it (`maxRetriesPerRequest`,
 * `keyPrefix`, `tls`, ...): it applies to both sides, as if under `redisOptions`.
 */
export interface TwiceRedisOptions extends DataRedisOptions, OwnOptions {}

/** The options twiceredis itself reads. */
export interface OwnOptions {
  /**
   * Password of the data nodes (`requirepass`, or of `username` with ACLs). `password`,
   * `username` and `db` may also be set in `redisOptions`, `masterOptions` or `replicaOptions`:
   * the most specific place wins (side object, then `redisOptions`, then here).
   * @default none
   */
  password?: string | undefined
  /** ACL user on the data nodes. @default none (the `default` user) */
  username?: string | undefined
  /** Password of the sentinels, if they have `requirepass`. @default none */
  sentinelPassword?: string | undefined
  /** ACL user on the sentinels. @default none */
  sentinelUsername?: string | undefined
  /** Database index to `SELECT` on both sides. @default 0 */
  db?: number | undefined
  /**
   * Send reads to the master when no replica is eligible (as redis-py does). With `false`,
   * reads reject with `NO_HEALTHY_REPLICA` instead.
   * @default true
   */
  readFallback?: boolean | undefined
  /**
   * How the read side picks among eligible replicas: `'random'`, `'round-robin'`,
   * `'lowest-latency'` (smoothed round trip measured on connect and by the health check),
   * `'same-zone'` (at random among the replicas of `clientZone`, which it needs), or a function
   * that gets every replica with its full state (and zone) and returns the one to use. With
   * `clientZone`, every built-in policy picks among the client's zone first.
   * @default 'random'
   */
  replicaSelection?: ReplicaSelection | undefined
  /**
   * The availability zone this process runs in. Reads go to healthy replicas of this zone first,
   * then to other zones, then to the master; the health check brings them back to the zone once
   * one of its replicas is healthy again. A node's zone is what it announces
   * (`availability_zone`, Valkey 8.1+, read from `INFO server` on connect), else what `zones` says.
   * @default none (no zone preference)
   */
  clientZone?: string | undefined
  /**
   * Zone name -> where its nodes are, in the syntax of `allowedNodes` (CIDR blocks, addresses,
   * host names, `*.domain`); the first zone that matches a node's host wins. A node's own
   * `availability_zone` wins over this map.
   * @default none
   */
  zones?: Readonly<Record<string, readonly string[]>> | undefined
  /**
   * A replica further behind the master than this many bytes is not eligible. Needs one more
   * sentinel command per discovery (`SENTINEL INFO-CACHE`); as fresh as the sentinels' last INFO.
   * @default no limit
   */
  maxLagBytes?: number | undefined
  /**
   * Tolerate a replica whose master link has been down for at most this long (it keeps serving
   * slightly stale reads, e.g. through a failover). Without it the link must be up.
   * @default the link must be up
   */
  maxLinkDownMs?: number | undefined
  /**
   * A replica estimated further behind the master than this many ms is not chosen, and one
   * connected to is left (`node-rejected` with the estimate). Estimated from the master's
   * replication offset over time (the process' own sample of the master, one `INFO` per
   * health-check interval over one connection per master and process, also in a process that
   * never writes; health checks, `ROLE` replies, the sentinels' cached INFO) against each
   * replica's offset, within one replication history; a caught-up replica is 0 ms stale, also on
   * an idle master. Resolution: one health-check interval, so at least 2 × `healthCheckIntervalMs`.
   * @default no limit
   */
  maxStalenessMs?: number | undefined
  /**
   * Where data nodes may be: CIDR blocks (`10.0.0.0/8`, `fd00::/8`), addresses, and host names,
   * exact or `*.domain` (no DNS lookup). A master or replica the sentinels name elsewhere (checked
   * after `natMap`) is never connected to: the write side fails with `NODE_NOT_ALLOWED`, the read
   * side skips the replica (`node-rejected`, and its reason in `topology()`).
   * @default anywhere
   */
  allowedNodes?: readonly string[] | undefined
  /** Disconnect a side after this long without a command (never while a `MULTI` or `WATCH` is open on it); the next command reconnects. `0`: never. @default 0 */
  idleTimeoutMs?: number | undefined
  /** Addresses the sentinels announce that this process must reach elsewhere (Docker, Kubernetes). @default none */
  natMap?: NatMap | undefined
  /** Bound on connecting to one sentinel and getting its answer; then the next one is tried. @default 500 */
  sentinelTimeoutMs?: number | undefined
  /**
   * Bound on connecting to a data node until it is ready (TCP connect, AUTH, role check). A node
   * that is down or hung costs at most this before twiceredis re-resolves.
   * @default 2000
   */
  connectTimeoutMs?: number | undefined
  /**
   * Cap of the jittered exponential backoff between reconnect attempts (first delay ~25 ms).
   * Every attempt resolves again (retries in an outage may share a recent sentinel answer). While
   * the sentinel watch listens, the write side retries a master still gone at this cap after a
   * first quick retry: the switch will be announced.
   * @default 1000
   */
  maxRetryDelayMs?: number | undefined
  /**
   * How often each connected client checks its node with `INFO replication`: a hung node is
   * dropped (no answer within `connectTimeoutMs`), a demoted master or a replica that lost its
   * master link is left, and reads that fell back to the master return to a healthy replica.
   * `0` turns it off.
   * @default 1000
   */
  healthCheckIntervalMs?: number | undefined
  /**
   * How the client listens to the sentinels' failover announcements (one subscription per sentinel
   * per process, shared by every TwiceRedis on the same sentinels):
   * - `'always'`: for as long as the write side lives, with the **write fence**: from the first
   *   word of a failover (`+odown`, `+try-failover`, `+selected-slave`, ...) writes are held on
   *   the client instead of going to a master that is being replaced while it still answers (a
   *   `SENTINEL FAILOVER`, sentinels cut off from a live master), and released to the new master
   *   the moment it answers as one. Costs one idle connection per sentinel per process.
   * - `'outage'`: only while a client lost its node (no sentinel connection at rest; writes
   *   acknowledged by a master replaced while it is still up are lost, see the README).
   * - `false`: never; clients find the new master by polling the sentinels as they reconnect.
   * `true` means `'always'`.
   * @default 'always'
   */
  failoverDetection?: 'always' | 'outage' | boolean | undefined
  /**
   * With `failoverDetection: 'always'`, the longest a write fence holds writes: after it, writes
   * go to whatever master the sentinels then name (the same one if the failover went nowhere).
   * Covers an election and a promotion (1-2 s on a healthy deployment); `maxRetriesPerRequest` and
   * `commandTimeout` apply to held commands as usual.
   * @default 5000
   */
  failoverFenceMs?: number | undefined
  /**
   * `'session'`: a read on `tr.slave` sees every write acknowledged on `tr.master` before it, and
   * never an older state than an earlier read (read-your-writes, monotonic reads), by
   * replication offsets; a read the replica cannot serve fresh within `consistencyTimeoutMs`
   * goes to the master. `'eventual'`: reads go to the replica as it is (no extra command).
   * @default 'eventual'
   */
  consistency?: 'eventual' | 'session' | undefined
  /**
   * With `consistency: 'session'`, how long a read waits for the replica to catch up before it
   * goes to the master instead. A healthy replica applies a write within a millisecond, so this
   * is only reached by a replica that is really behind, paused or gone; it is also what such a
   * replica may add to one read before the health check moves reads elsewhere. A command that
   * reads data but cannot move (MULTI/EXEC, another db, blocking, cursor, script) keeps waiting up
   * to `connectTimeoutMs`, then rejects `REPLICA_BEHIND`.
   * @default 100
   */
  consistencyTimeoutMs?: number | undefined
  /**
   * OpenTelemetry metrics, recorded once a MeterProvider is registered (see README, Metrics).
   * `'without-commands'`: all but `db.client.operation.duration`, whose one SDK `record()` per
   * command is most of their cost on a busy client. `false`: none, whatever is registered.
   * @default true
   */
  metrics?: boolean | 'without-commands' | undefined
  /**
   * Commands written in the same tick (concurrent `await`s, a pipeline beside other commands)
   * leave in one socket write instead of one write each: about 3× ioredis' throughput with many
   * commands in flight, nothing added to a lone command (its write goes out at once). Bytes, their
   * order, replies, timeouts and reconnects are ioredis' own; at most the rest of the tick is added.
   * `false`: one write per command, as plain ioredis.
   * @default true
   */
  enableWriteCoalescing?: boolean | undefined
  /**
   * Answer `tr.slave`'s plain reads of a documented list (GET, MGET, HGET, HGETALL, EXISTS,
   * STRLEN, SMEMBERS, ZRANGE, ...: `CACHED_READS`) from process memory, kept fresh by Redis'
   * `CLIENT TRACKING` on the replica (Redis 6+). Flushed whenever an invalidation may have been
   * missed (reconnect, failover, the write fence, FLUSHALL, a full resync). `true`: the defaults.
   * `maxEntries` and `maxBytes` bound the memory (LRU); `ttlMs` bounds the age of any entry.
   * @default false (`true`: { maxEntries: 10000, maxBytes: 67108864, ttlMs: 300000 })
   */
  clientCache?: boolean | { maxEntries?: number; maxBytes?: number; ttlMs?: number } | undefined
  /**
   * ioredis options for both data connections (`maxRetriesPerRequest`, `commandTimeout`,
   * `keyPrefix`, `username`, `password`, `db`, ...); they win over the top level. @default {}
   */
  redisOptions?: DataRedisOptions | undefined
  /** ioredis options for the master connection only; they win over `redisOptions`. @default {} */
  masterOptions?: DataRedisOptions | undefined
  /** ioredis options for the replica connection only; they win over `redisOptions`. @default {} */
  replicaOptions?: DataRedisOptions | undefined
  /** TLS options for the sentinel connections (`true` for defaults). @default off */
  sentinelTls?: ConnectionOptions | boolean | undefined
}

/** Where to find the master: the object form's required keys. */
export interface Locator {
  /** The master name the sentinels monitor (`sentinel monitor <name> ...`). */
  name: string
  sentinels: readonly SentinelInput[]
}

/** The object form: `new TwiceRedis({ name, sentinels, ...options })`. */
export interface TwiceRedisConfig extends TwiceRedisOptions, Locator {}

/**
 * ioredis options twiceredis sets itself (where and how to connect, the role check); rejected
 * wherever they appear in `redisOptions`, `masterOptions` or `replicaOptions`.
 */
export const owned = [
  'Connector',
  'sentinels',
  'name',
  'role',
  'host',
  'port',
  'path',
  'natMap',
  'enableReadyCheck',
  'sentinelPassword',
  'sentinelUsername',
  'preferredSlaves',
  'failoverDetector',
] as const satisfies readonly (keyof RedisOptions)[]
