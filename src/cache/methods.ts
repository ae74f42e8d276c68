import type { Command } from 'ioredis'
import { CACHED_READS } from '../command-kinds.js'
import type { Session } from '../consistency/session.js'
import type { SessionClient, Stream } from '../consistency/session-client.js'
import { CacheUnavailableError } from '../errors.js'
import type { Emit, FlushReason } from '../events.js'
import type { Metrics } from '../metrics/metrics.js'
import { observeCache } from '../metrics/otel.js'
import { ClientCache } from './client-cache.js'
import type { CacheLimits } from './lru.js'

type Callback = (error?: Error | null, result?: unknown) => void
type Method = (...args: unknown[]) => unknown

/** The client cache of `slave` (`clientCache`), its reads installed, its flushes reported as `cache-flushed`. */
export function clientCacheFor(
  slave: SessionClient,
  limits: CacheLimits,
  session: Session,
  emit: Emit,
  metrics: Metrics,
): ClientCache {
  let told = false // the refusal is told once: every reconnect would ask again
  const refused = (error: Error) => {
    const address = slave.node?.address ?? "the read side's node"
    if (!told)
      emit('error', Object.assign(new CacheUnavailableError(address, { cause: error }), { side: 'replica' as const }))
    told = true
  }
  const flushed = (reason: FlushReason, entries: number) => emit('cache-flushed', { reason, entries })
  const cache = new ClientCache(slave, limits, session, flushed, refused)
  installCachedReads(slave, cache)
  metrics.cache = (observe) => observeCache(observe, cache.stats)
  return cache
}

/**
 * Give `client` (`tr.slave`) its own `get`, `mget`, `hget`, ... (one per `CACHED_READS`), ahead of
 * ioredis' on its prototype: a hit is answered before ioredis builds a `Command` (a Map lookup, and
 * one promise answered with the others of its turn: why the lookup sits here and not in
 * `sendCommand`). Called with what the
 * cache cannot key (Buffers, objects, strings with a lone surrogate), inside a `MULTI`, or while the db is changing, they are
 * ioredis' own methods. Pipelines, `multi()` and `duplicate()`s never use these.
 */
export function installCachedReads(client: SessionClient, cache: ClientCache): void {
  const target = client as unknown as Record<string, Method>
  for (const [name, keysAt] of Object.entries(CACHED_READS)) {
    const ioredis = target[name] as Method
    const method = function (this: SessionClient, ...input: unknown[]): unknown {
      const callback = typeof input[input.length - 1] === 'function' ? (input.pop() as Callback) : undefined
      const args = input.length === 1 && Array.isArray(input[0]) ? (input[0] as unknown[]) : input
      const db = this === client ? cacheableDb(client, args) : undefined
      if (db === undefined) return ioredis.apply(this, callback ? [...input, callback] : input)
      const prefix = client.options.keyPrefix ?? ''
      const keyed = args as (string | number)[]
      const id = idOf(name, db, prefix, keyed)
      const keys = keysAt === 'all' ? keyed.map((k) => prefix + k) : [prefix + keyed[0]]
      return cache.read(name, keyed, keys, id, callback)
    }
    Object.defineProperty(client, name, { value: method, configurable: true, writable: true })
  }
  // Every other command too (pipelines, `*Buffer` reads, ...): what it reads supersedes the entries of its keys.
  const send = client.sendCommand
  const sendCommand = function (this: SessionClient, command: Command, stream?: Stream): unknown {
    if (this === client) cache.sending(command)
    return send.call(this, command, stream)
  }
  Object.defineProperty(client, 'sendCommand', { value: sendCommand, configurable: true, writable: true })
}

/** The db the read would run in, if the cache may answer it; `undefined`: ioredis' own path. */
function cacheableDb(client: SessionClient, args: unknown[]): number | undefined {
  if (args.length === 0 || !wellFormed(client.options.keyPrefix ?? '')) return undefined
  for (const a of args) if (typeof a !== 'number' && (typeof a !== 'string' || !wellFormed(a))) return undefined
  const c = client.connection
  // In a MULTI the reply is QUEUED; subscribed (RESP2) or monitoring, ioredis refuses it; while a
  // SELECT is unanswered the db is unknown.
  if (c.multi || c.queueing || client.mode !== 'normal') return undefined
  return c.dbNow
}

/** A lone surrogate (unpaired in UTF-16): sent as UTF-8 it becomes U+FFFD, so Redis invalidates the key under another name. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/** `s` is well-formed UTF-16 (`String.prototype.isWellFormed`, which Node 20's types lack). */
function wellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s)
}

/**
 * The entry's id: command, db and arguments, unambiguous (with more than one argument, each is
 * length-prefixed and the name marked, so no single key spells a list of them).
 */
function idOf(name: string, db: number, prefix: string, args: (string | number)[]): string {
  if (args.length === 1) return `${name} ${db} ${prefix}${args[0]}`
  let id = `${name}* ${db} ${prefix.length}:${prefix}`
  for (const arg of args) {
    const a = String(arg)
    id += ` ${a.length}:${a}`
  }
  return id
}
