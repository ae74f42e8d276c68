/** Reading the options: the table of every option (reader and default), `normalize()`, each side's credentials. */
import type { ConnectionOptions } from 'node:tls'
import type { NatMap } from 'ioredis'
import type { CacheLimits } from '../cache/lru.js'
import { InvalidOptionError } from '../errors.js'
import { ioredisOptionNames } from '../ioredis-internals.js'
import { parseAllowedNodes } from '../routing/allowed-nodes.js'
import type { ReplicaSelection } from '../routing/replica-selection.js'
import { parseZones } from '../routing/zone-book.js'
import { closest } from './did-you-mean.js'
import {
  type DataRedisOptions,
  type Locator,
  type OwnOptions,
  owned,
  type SentinelAddress,
  type SentinelInput,
  type TwiceRedisConfig,
} from './options.js'
import { checkProtocols, resp3Installed } from './protocol.js'

/** Reads one option from the user's config: the value (default filled in) or an `InvalidOptionError`. */
type Spec<T> = (value: unknown, key: string) => T

const optional =
  <T>(spec: Spec<T>): Spec<T | undefined> =>
  (value, key) =>
    value === undefined ? undefined : spec(value, key)
const withDefault =
  <T>(fallback: T, spec: Spec<T>): Spec<T> =>
  (value, key) =>
    value === undefined ? fallback : spec(value, key)
const check =
  <T>(expected: string, ok: (value: unknown) => boolean): Spec<T> =>
  (value, key) => {
    if (!ok(value)) throw new InvalidOptionError(key, expected)
    return value as T
  }
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const string = check<string>('a string', (v) => typeof v === 'string')
const boolean = check<boolean>('a boolean', (v) => typeof v === 'boolean')
const positiveMs = check<number>('a positive number of milliseconds', (v) => finite(v) && v > 0)
const count = check<number>('a non-negative number', (v) => finite(v) && v >= 0)
const positiveInteger = check<number>('a positive integer', (v) => Number.isInteger(v) && (v as number) > 0)
const database = check<number>('a non-negative integer', (v) => Number.isInteger(v) && (v as number) >= 0)
const dataOptions: Spec<DataRedisOptions> = withDefault({}, (value, key) => {
  if (value === null || typeof value !== 'object') throw new InvalidOptionError(key, 'an object of ioredis options')
  const clash = owned.find((k) => k in value)
  if (clash) throw new InvalidOptionError(`${key}.${clash}`, 'left unset: twiceredis sets it itself')
  const { username, password, db } = value as Record<string, unknown>
  optional(string)(username, `${key}.username`)
  optional(string)(password, `${key}.password`)
  optional(database)(db, `${key}.db`)
  return value as DataRedisOptions
})

/** Every option: how it is read and its default. The keys are exactly those of {@link TwiceRedisConfig}. */
const table = {
  name: check<string>('a non-empty string', (v) => typeof v === 'string' && v.length > 0),
  sentinels: (value: unknown, key: string): SentinelAddress[] => {
    if (!Array.isArray(value) || value.length === 0) {
      throw new InvalidOptionError(key, 'a non-empty array of [host, port], { host, port } or "host:port"')
    }
    return value.map((s, i) => parseSentinel(s as SentinelInput, `${key}[${i}]`))
  },
  password: optional(string),
  username: optional(string),
  sentinelPassword: optional(string),
  sentinelUsername: optional(string),
  db: withDefault(0, database),
  readFallback: withDefault(true, boolean),
  replicaSelection: withDefault<ReplicaSelection>(
    'random',
    check("'random', 'round-robin', 'lowest-latency', 'same-zone' or a function", (v) =>
      typeof v === 'function' ? true : ['random', 'round-robin', 'lowest-latency', 'same-zone'].includes(v as string),
    ),
  ),
  clientZone: optional(check<string>('a non-empty string', (v) => typeof v === 'string' && v.length > 0)),
  zones: optional(parseZones),
  maxLagBytes: optional(count),
  maxLinkDownMs: optional(count),
  maxStalenessMs: optional(positiveMs),
  allowedNodes: optional(parseAllowedNodes),
  idleTimeoutMs: withDefault(0, count),
  natMap: optional(
    check<NatMap>(
      'an object of "host:port" -> { host, port }, or a function',
      (v) => typeof v === 'function' || (v !== null && typeof v === 'object'),
    ),
  ),
  sentinelTimeoutMs: withDefault(500, positiveMs),
  connectTimeoutMs: withDefault(2000, positiveMs),
  maxRetryDelayMs: withDefault(1000, positiveMs),
  healthCheckIntervalMs: withDefault(
    1000,
    check<number>('a non-negative number of milliseconds (0 turns it off)', (v) => finite(v) && v >= 0),
  ),
  failoverDetection: (value: unknown, key: string): 'always' | 'outage' | false => {
    if (value === undefined || value === true || value === 'always') return 'always'
    if (value === false || value === 'outage') return value
    throw new InvalidOptionError(key, "'always', 'outage' or false")
  },
  failoverFenceMs: withDefault(5000, positiveMs),
  consistency: withDefault<'eventual' | 'session'>(
    'eventual',
    check("'eventual' or 'session'", (v) => v === 'eventual' || v === 'session'),
  ),
  consistencyTimeoutMs: withDefault(100, positiveMs),
  metrics: withDefault<boolean | 'without-commands'>(
    true,
    check("a boolean or 'without-commands'", (v) => typeof v === 'boolean' || v === 'without-commands'),
  ),
  enableWriteCoalescing: withDefault(true, boolean),
  clientCache: (value: unknown, key: string): CacheLimits | undefined => {
    if (value === undefined || value === false) return undefined
    const limits = value === true ? {} : value
    if (limits === null || typeof limits !== 'object') {
      throw new InvalidOptionError(key, 'a boolean or { maxEntries?, maxBytes?, ttlMs? }')
    }
    const stray = Object.keys(limits).find((k) => !['maxEntries', 'maxBytes', 'ttlMs'].includes(k))
    if (stray) throw new InvalidOptionError(`${key}.${stray}`, 'left out: the cache takes maxEntries, maxBytes, ttlMs')
    const { maxEntries, maxBytes, ttlMs } = limits as Record<string, unknown>
    return {
      maxEntries: withDefault(10_000, positiveInteger)(maxEntries, `${key}.maxEntries`),
      maxBytes: withDefault(64 * 1024 * 1024, positiveInteger)(maxBytes, `${key}.maxBytes`),
      ttlMs: withDefault(300_000, positiveMs)(ttlMs, `${key}.ttlMs`),
    }
  },
  redisOptions: dataOptions,
  masterOptions: dataOptions,
  replicaOptions: dataOptions,
  sentinelTls: (value: unknown, key: string): ConnectionOptions | undefined => {
    if (value === undefined || value === false) return undefined
    if (value === true) return {}
    if (value === null || typeof value !== 'object')
      throw new InvalidOptionError(key, 'a boolean or TLS connection options')
    return value as ConnectionOptions
  },
} satisfies { [K in keyof (OwnOptions & Locator)]-?: Spec<unknown> }

/** The options after {@link normalize}: every default filled in. */
export type ResolvedOptions = { -readonly [K in keyof typeof table]: ReturnType<(typeof table)[K]> }

/**
 * ioredis' option names: those with a default, and those without one. A key that is neither
 * twiceredis' nor ioredis' is a typo.
 */
const ioredisKeys = new Set([
  ...ioredisOptionNames(),
  ...['tls', 'path', 'commandTimeout', 'socketTimeout', 'blockingTimeout', 'scripts', 'showFriendlyErrorStack'],
  ...['sentinelTLS', 'sentinelCommandTimeout', 'preferredSlaves', 'Connector'],
  // ioredis 6's: known by name with ioredis 5 too, to refuse them there with the reason (protocol.ts).
  ...['protocol', 'replyMapping'],
])

/** Validate and fill in defaults; throws `InvalidOptionError` naming the first bad option. */
export function normalize(config: TwiceRedisConfig): ResolvedOptions {
  if (config === null || typeof config !== 'object') throw new InvalidOptionError('options', 'an object')
  const input = config as unknown as Record<string, unknown>
  const ioredis: Record<string, unknown> = {}
  for (const key of Object.keys(config)) {
    if (Object.hasOwn(table, key)) continue
    if ((owned as readonly string[]).includes(key)) {
      throw new InvalidOptionError(key, 'left unset: twiceredis finds the nodes through the sentinels itself')
    }
    if (!ioredisKeys.has(key)) {
      const near = closest(key, [...Object.keys(table), ...ioredisKeys])
      throw new InvalidOptionError(
        key,
        `a known option${near ? `: did you mean \`${near}\`?` : ' (see TwiceRedisOptions)'}`,
      )
    }
    ioredis[key] = input[key]
  }
  const out: Record<string, unknown> = {}
  for (const [key, spec] of Object.entries(table)) out[key] = (spec as Spec<unknown>)(input[key], key)
  // ioredis options at the top level apply to both sides; `redisOptions` says the same, explicitly.
  out.redisOptions = { ...ioredis, ...(out.redisOptions as DataRedisOptions) }
  checkTogether(out as ResolvedOptions)
  const cache = out.clientCache as CacheLimits | undefined
  // A paused or hung replica serves no hit for long: half of the silence that drops it (client/checks.ts).
  if (cache)
    cache.heardWithinMs =
      Math.min(out.connectTimeoutMs as number, (out.maxStalenessMs as number | undefined) ?? Infinity) / 2
  checkProtocols(out as ResolvedOptions, resp3Installed, ioredis)
  return out as ResolvedOptions
}

/** Options that only make sense with others. */
function checkTogether(o: ResolvedOptions): void {
  if (o.replicaSelection === 'same-zone' && o.clientZone === undefined) {
    throw new InvalidOptionError('clientZone', "set with replicaSelection 'same-zone' (the zone this process runs in)")
  }
  const max = o.maxStalenessMs
  if (max === undefined) return
  if (o.healthCheckIntervalMs === 0) {
    throw new InvalidOptionError('maxStalenessMs', 'used with the health check on (its samples are the estimate)')
  }
  // The estimate errs by up to one master sample, i.e. one health-check interval (staleness.ts).
  const min = 2 * o.healthCheckIntervalMs
  if (max < min) {
    throw new InvalidOptionError('maxStalenessMs', `at least 2 × healthCheckIntervalMs (${min} ms), its resolution`)
  }
}

/**
 * The credentials and database of one side: the most specific place that sets each wins, as for
 * every ioredis option: `masterOptions`/`replicaOptions`, then `redisOptions`, then the top level
 * (or the constructor's `password` argument). `db` defaults to 0.
 */
export function credentialsFor(
  o: ResolvedOptions,
  side: 'master' | 'replica',
): { username: string | undefined; password: string | undefined; db: number } {
  const own = side === 'master' ? o.masterOptions : o.replicaOptions
  const pick = <K extends 'username' | 'password' | 'db'>(key: K) => {
    const layer = [own, o.redisOptions].find((options) => options[key] !== undefined)
    return layer ? layer[key] : (o as Pick<ResolvedOptions, K>)[key]
  }
  return { username: pick('username'), password: pick('password'), db: pick('db') ?? 0 }
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

/**
 * The overrides of a `duplicate()`: the options twiceredis sets itself are refused there too (a
 * `role: 'slave'` duplicate of tr.master would otherwise be a write connection), unless they are
 * the client's own values passed back (`duplicate({ ...client.options, connectionName })`).
 */
export function checkDuplicate(own: object, override: object | undefined): void {
  if (!override) return
  const clash = owned.find((k) => k in override && override[k as never] !== own[k as never])
  if (clash) throw new InvalidOptionError(`duplicate.${clash}`, 'left unset: twiceredis sets it itself')
}
