import type { ConnectionOptions } from 'node:tls'
import type { RedisOptions } from 'ioredis'
import { InvalidOptionError } from './errors.js'
import type { ReplicaSelection } from './topology.js'

/** Maps an address the sentinels announce (`host:port`) to one this process can reach. */
export type NatMap =
  | Record<string, { host: string; port: number }>
  | ((address: string) => { host: string; port: number } | undefined)

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
export type DataRedisOptions = Omit<
  RedisOptions,
  | 'Connector'
  | 'sentinels'
  | 'name'
  | 'role'
  | 'host'
  | 'port'
  | 'path'
  | 'natMap'
  | 'enableReadyCheck'
  | 'sentinelPassword'
  | 'sentinelUsername'
  | 'preferredSlaves'
  | 'failoverDetector'
  | 'replyMapping'
>

/** Options of {@link TwiceRedis}. Durations are in milliseconds. */
export interface TwiceRedisOptions {
  /** Password of the data nodes (`requirepass`, or of `username` with ACLs). @default none */
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
   * `'lowest-latency'` (smoothed round trip measured on connect and by the health check), or a
   * function that gets every replica with its full state and returns the one to use.
   * @default 'random'
   */
  replicaSelection?: ReplicaSelection | undefined
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
  /** Disconnect a side after this long without a command; the next command reconnects. `0`: never. @default 0 */
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
   * Every attempt asks the sentinels again.
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
   * Listen for the sentinels' `+switch-master` while a client is in an outage, and reconnect the
   * moment they announce the new master. One subscription per process and master, only during
   * outages: at rest no sentinel connection is held.
   * @default true
   */
  failoverDetection?: boolean | undefined
  /** ioredis options for both data connections (`maxRetriesPerRequest`, `commandTimeout`, `keyPrefix`, ...). @default {} */
  redisOptions?: DataRedisOptions | undefined
  /** ioredis options for the master connection only; they win over `redisOptions`. @default {} */
  masterOptions?: DataRedisOptions | undefined
  /** ioredis options for the replica connection only; they win over `redisOptions`. @default {} */
  replicaOptions?: DataRedisOptions | undefined
  /** TLS options for the sentinel connections (`true` for defaults). @default off */
  sentinelTls?: ConnectionOptions | boolean | undefined
}

/** The object form: `new TwiceRedis({ name, sentinels, ...options })`. */
export interface TwiceRedisConfig extends TwiceRedisOptions {
  /** The master name the sentinels monitor (`sentinel monitor <name> ...`). */
  name: string
  sentinels: readonly SentinelInput[]
}

export interface ResolvedOptions {
  name: string
  sentinels: SentinelAddress[]
  password: string | undefined
  username: string | undefined
  sentinelPassword: string | undefined
  sentinelUsername: string | undefined
  db: number
  readFallback: boolean
  sentinelTimeoutMs: number
  connectTimeoutMs: number
  maxRetryDelayMs: number
  healthCheckIntervalMs: number
  failoverDetection: boolean
  replicaSelection: ReplicaSelection
  maxLagBytes: number | undefined
  maxLinkDownMs: number | undefined
  idleTimeoutMs: number
  natMap: NatMap | undefined
  redisOptions: DataRedisOptions
  masterOptions: DataRedisOptions
  replicaOptions: DataRedisOptions
  sentinelTls: ConnectionOptions | undefined
}

const defaults = {
  db: 0,
  readFallback: true,
  sentinelTimeoutMs: 500,
  connectTimeoutMs: 2000,
  maxRetryDelayMs: 1000,
  healthCheckIntervalMs: 1000,
  failoverDetection: true,
  replicaSelection: 'random',
  idleTimeoutMs: 0,
} as const

const known = new Set<string>([
  'name',
  'sentinels',
  'password',
  'username',
  'sentinelPassword',
  'sentinelUsername',
  'db',
  'readFallback',
  'sentinelTimeoutMs',
  'connectTimeoutMs',
  'maxRetryDelayMs',
  'healthCheckIntervalMs',
  'failoverDetection',
  'replicaSelection',
  'maxLagBytes',
  'maxLinkDownMs',
  'idleTimeoutMs',
  'natMap',
  'redisOptions',
  'masterOptions',
  'replicaOptions',
  'sentinelTls',
])

const owned = ['Connector', 'sentinels', 'name', 'role', 'host', 'port', 'path', 'natMap', 'enableReadyCheck']

/** Validate and fill in defaults; throws `InvalidOptionError` naming the first bad option. */
export function normalize(config: TwiceRedisConfig): ResolvedOptions {
  if (config === null || typeof config !== 'object') throw new InvalidOptionError('options', 'an object')
  for (const key of Object.keys(config)) {
    if (!known.has(key)) throw new InvalidOptionError(key, 'a known option (see TwiceRedisOptions); it is not one')
  }
  const { name } = config
  if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionError('name', 'a non-empty string')
  if (!Array.isArray(config.sentinels) || config.sentinels.length === 0) {
    throw new InvalidOptionError('sentinels', 'a non-empty array of [host, port], { host, port } or "host:port"')
  }
  const sentinels = config.sentinels.map((s, i) => parseSentinel(s, `sentinels[${i}]`))
  for (const key of ['password', 'username', 'sentinelPassword', 'sentinelUsername'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'string') throw new InvalidOptionError(key, 'a string')
  }
  const db = config.db ?? defaults.db
  if (!Number.isInteger(db) || db < 0) throw new InvalidOptionError('db', 'a non-negative integer')
  const readFallback = config.readFallback ?? defaults.readFallback
  if (typeof readFallback !== 'boolean') throw new InvalidOptionError('readFallback', 'a boolean')
  const sentinelTimeoutMs = positive(config, 'sentinelTimeoutMs')
  const connectTimeoutMs = positive(config, 'connectTimeoutMs')
  const maxRetryDelayMs = positive(config, 'maxRetryDelayMs')
  const healthCheckIntervalMs = config.healthCheckIntervalMs ?? defaults.healthCheckIntervalMs
  if (
    typeof healthCheckIntervalMs !== 'number' ||
    !Number.isFinite(healthCheckIntervalMs) ||
    healthCheckIntervalMs < 0
  ) {
    throw new InvalidOptionError('healthCheckIntervalMs', 'a non-negative number of milliseconds (0 turns it off)')
  }
  const failoverDetection = config.failoverDetection ?? defaults.failoverDetection
  if (typeof failoverDetection !== 'boolean') throw new InvalidOptionError('failoverDetection', 'a boolean')
  const replicaSelection = config.replicaSelection ?? defaults.replicaSelection
  if (
    typeof replicaSelection !== 'function' &&
    !['random', 'round-robin', 'lowest-latency'].includes(replicaSelection as string)
  ) {
    throw new InvalidOptionError('replicaSelection', "'random', 'round-robin', 'lowest-latency' or a function")
  }
  const maxLagBytes = optionalCount(config, 'maxLagBytes')
  const maxLinkDownMs = optionalCount(config, 'maxLinkDownMs')
  const idleTimeoutMs = optionalCount(config, 'idleTimeoutMs') ?? defaults.idleTimeoutMs
  const natMap = config.natMap
  if (natMap !== undefined && typeof natMap !== 'function' && (natMap === null || typeof natMap !== 'object')) {
    throw new InvalidOptionError('natMap', 'an object of "host:port" -> { host, port }, or a function')
  }
  const redisOptions = redisOpts(config, 'redisOptions')
  const masterOptions = redisOpts(config, 'masterOptions')
  const replicaOptions = redisOpts(config, 'replicaOptions')
  const tls = config.sentinelTls
  if (tls !== undefined && typeof tls !== 'boolean' && (tls === null || typeof tls !== 'object')) {
    throw new InvalidOptionError('sentinelTls', 'a boolean or TLS connection options')
  }
  return {
    name,
    sentinels,
    password: config.password,
    username: config.username,
    sentinelPassword: config.sentinelPassword,
    sentinelUsername: config.sentinelUsername,
    db,
    readFallback,
    sentinelTimeoutMs,
    connectTimeoutMs,
    maxRetryDelayMs,
    healthCheckIntervalMs,
    failoverDetection,
    replicaSelection,
    maxLagBytes,
    maxLinkDownMs,
    idleTimeoutMs,
    natMap,
    redisOptions,
    masterOptions,
    replicaOptions,
    sentinelTls: tls === true ? {} : tls || undefined,
  }
}

/** Parse one sentinel in any accepted form; `label` names it in errors. */
export function parseSentinel(input: SentinelInput, label = 'sentinel'): SentinelAddress {
  const expected = '[host, port], { host, port } or "host:port" with a port from 1 to 65535'
  let host: unknown
  let port: unknown
  if (typeof input === 'string') {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(input) ?? /^([^:]+)(?::(\d+))?$/.exec(input)
    if (!m) throw new InvalidOptionError(label, expected)
    host = m[1]
    port = m[2] === undefined ? 26379 : Number(m[2])
  } else if (Array.isArray(input)) {
    ;[host, port] = input
  } else if (input && typeof input === 'object') {
    host = (input as { host?: unknown }).host
    port = (input as { port?: unknown }).port ?? 26379
  }
  if (typeof host !== 'string' || host.length === 0) throw new InvalidOptionError(label, expected)
  if (typeof port === 'string' && /^\d+$/.test(port)) port = Number(port)
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidOptionError(label, expected)
  }
  return { host, port }
}

function positive(config: TwiceRedisConfig, key: 'sentinelTimeoutMs' | 'connectTimeoutMs' | 'maxRetryDelayMs'): number {
  const value = config[key] ?? defaults[key]
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(key, 'a positive number of milliseconds')
  }
  return value
}

function optionalCount(
  config: TwiceRedisConfig,
  key: 'maxLagBytes' | 'maxLinkDownMs' | 'idleTimeoutMs',
): number | undefined {
  const value = config[key]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new InvalidOptionError(key, 'a non-negative number')
  return value
}

function redisOpts(
  config: TwiceRedisConfig,
  key: 'redisOptions' | 'masterOptions' | 'replicaOptions',
): DataRedisOptions {
  const value = config[key] ?? {}
  if (value === null || typeof value !== 'object') throw new InvalidOptionError(key, 'an object of ioredis options')
  const clash = owned.find((k) => k in value)
  if (clash) throw new InvalidOptionError(`${key}.${clash}`, 'left unset: twiceredis sets it itself')
  return value
}
