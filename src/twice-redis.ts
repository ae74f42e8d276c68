import { channel } from 'node:diagnostics_channel'
import { EventEmitter } from 'node:events'
import { inspect } from 'node:util'
import type { RedisOptions } from 'ioredis'
import type { CacheRecord, ClientCache } from './cache/client-cache.js'
import { clientCacheFor } from './cache/methods.js'
import { TwiceRedisClient } from './client/client.js'
import { TwiceRedisConnector } from './connector.js'
import { parseToken } from './consistency/position.js'
import { Session } from './consistency/session.js'
import { InvalidOptionError } from './errors.js'
import type { Emit, Side, Target, TwiceRedisEvents } from './events.js'
import { Metrics } from './metrics/metrics.js'
import { credentialsFor, normalize, type ResolvedOptions } from './options/normalize.js'
import type { SentinelInput, TwiceRedisConfig, TwiceRedisOptions } from './options/options.js'
import { parseInfo } from './protocol/node-info.js'
import { sampleMember, samplerFor } from './routing/master-sampler.js'
import { type ReplicaReport, reportReplicas } from './routing/replica-health.js'
import { Resolver } from './routing/resolver.js'
import { sentinelSetFor } from './sentinels/registry.js'
import { type SentinelReport, Sentinels } from './sentinels/sentinels.js'

export type { TwiceRedisEvents }

/**
 * Topology events of every TwiceRedis of the process on `diagnostics_channel`, for APM tools and
 * metrics that should not need a listener on each instance: `twiceredis:<event>`, the event's
 * payload plus `masterName`. Publishing costs nothing while nobody subscribes.
 */
const channels = {
  resolved: channel('twiceredis:resolved'),
  'master-changed': channel('twiceredis:master-changed'),
  'replica-changed': channel('twiceredis:replica-changed'),
  'fallback-to-master': channel('twiceredis:fallback-to-master'),
  'node-rejected': channel('twiceredis:node-rejected'),
  'sentinel-unreachable': channel('twiceredis:sentinel-unreachable'),
  'sentinel-answer-refused': channel('twiceredis:sentinel-answer-refused'),
  'read-from-master': channel('twiceredis:read-from-master'),
  'write-fence': channel('twiceredis:write-fence'),
  'write-unfence': channel('twiceredis:write-unfence'),
  'cache-flushed': channel('twiceredis:cache-flushed'),
} satisfies Partial<Record<keyof TwiceRedisEvents, unknown>>

/** What {@link TwiceRedis.topology} returns. */
export interface Topology {
  name: string
  /** The master as the first answering sentinel reports it (and its zone, when known); `undefined` if none answered. */
  master: { address: string; zone?: string | undefined } | undefined
  replicas: ReplicaReport[]
  /** Why the sentinel could not list the replicas, when it could not (then `replicas` is empty). */
  replicasError?: string | undefined
  sentinels: SentinelReport[]
  /** The node each side uses now (`undefined` while disconnected). */
  connected: { master: Target | undefined; replica: Target | undefined }
  /**
   * With `clientZone`: the client's zone, the zone of the node reads use now, and why that is
   * not the client's zone when it is not.
   */
  zones?: { client: string; read: string | undefined; reason?: string | undefined } | undefined
  /** With `clientCache`: its entries, bytes, hits, misses, evictions and flushes (and flushes by reason). */
  cache?: CacheRecord | undefined
}

/**
 * Two real ioredis clients found through Redis Sentinel: `master` (alias `write`) for writes and
 * `slave` (aliases `read`, `replica`) for reads from a healthy replica.
 *
 * @example
 * ```ts
 * const tr = new TwiceRedis('mymaster', [['10.0.0.1', 26379], '10.0.0.2:26379'], 'secret')
 * await tr.master.set('greeting', 'hello')
 * const value = await tr.slave.get('greeting')
 * await tr.quit()
 * ```
 */
export class TwiceRedis extends EventEmitter<TwiceRedisEvents> {
  /** The write client, connected to the master. */
  readonly master: TwiceRedisClient
  /** The read client, connected to a healthy replica (or the master as a fallback). */
  readonly slave: TwiceRedisClient
  readonly #options: ResolvedOptions
  readonly #sentinels: Sentinels
  readonly #resolver: Resolver
  readonly #session: Session
  readonly #metrics: Metrics
  readonly #cache: ClientCache | undefined

  constructor(name: string, sentinels: readonly SentinelInput[], password?: string, options?: TwiceRedisOptions)
  constructor(config: TwiceRedisConfig)
  constructor(
    nameOrConfig: string | TwiceRedisConfig,
    sentinels?: readonly SentinelInput[],
    password?: string,
    options?: TwiceRedisOptions,
  ) {
    super()
    const config: TwiceRedisConfig =
      typeof nameOrConfig === 'string'
        ? {
            ...options,
            name: nameOrConfig,
            sentinels: sentinels as SentinelInput[],
            ...(password === undefined ? {} : { password }),
          }
        : nameOrConfig
    if (
      typeof nameOrConfig === 'string' &&
      options !== undefined &&
      (options === null || typeof options !== 'object')
    ) {
      throw new InvalidOptionError('options', 'an object')
    }
    this.#options = normalize(config)
    const o = this.#options
    const metrics = new Metrics(o.name, o.db, o.healthCheckIntervalMs, o.metrics)
    this.#metrics = metrics
    // The one sink every layer below reports to; an `error` nobody listens to is not thrown.
    const emit: Emit = (event, ...args) => {
      if (event !== 'error' || this.listenerCount('error') > 0) this.emit(event, ...(args as never))
      const published = channels[event as keyof typeof channels]
      if (published?.hasSubscribers) published.publish({ masterName: this.#options.name, ...args[0] })
      metrics.event(event, args[0])
      this.#cache?.heard(event, args[0])
    }
    this.#sentinels = new Sentinels(
      this.#options,
      sentinelSetFor(this.#options),
      (sentinel, error) =>
        emit('sentinel-unreachable', { sentinel, reason: error instanceof Error ? error.message : String(error) }),
      (refusal) => emit('sentinel-answer-refused', refusal),
      (sentinel, outcome) => metrics.sentinel(sentinel, outcome),
    )
    this.#resolver = new Resolver(this.#options, this.#sentinels, emit)
    this.#session = new Session(
      {
        tracksWrites: o.consistency === 'session',
        timeoutMs: o.consistencyTimeoutMs,
        holdMs: Math.max(o.connectTimeoutMs, o.consistencyTimeoutMs),
        readFallback: o.readFallback,
        masterName: o.name,
        histories: this.#resolver.histories,
      },
      emit,
    )
    this.master = new TwiceRedisClient('master', this.#clientOptions('master'), this.#resolver, emit, this.#session)
    this.slave = new TwiceRedisClient('replica', this.#clientOptions('replica'), this.#resolver, emit, this.#session)
    this.#session.master = this.master
    this.#cache = o.clientCache && clientCacheFor(this.slave, o.clientCache, this.#session, emit, metrics)
    for (const client of [this.master, this.slave]) {
      client.metrics = metrics
      metrics.attach(client)
    }
    // The master's offset has one record, the Resolver's (routing/staleness.ts): ROLEs feed it, metrics read it.
    this.#session.onMasterOffset = (offset, master) =>
      this.#resolver.masterOffsets.add(master, offset, Date.now(), 'session')
    metrics.masterOffset = () => this.#resolver.masterOffsets.latest
    if (o.maxStalenessMs !== undefined) {
      // While the read side is in use, the process samples the master itself (it may never write).
      const member = sampleMember(this.#resolver)
      let leave: (() => void) | undefined
      this.slave.on('ready', () => {
        leave ??= samplerFor(o).join(member)
      })
      this.slave.on('end', () => {
        leave?.()
        leave = undefined
      })
    }
  }

  /** Alias of {@link master}. */
  get write(): TwiceRedisClient {
    return this.master
  }
  /** Alias of {@link slave}. */
  get read(): TwiceRedisClient {
    return this.slave
  }
  /** Alias of {@link slave}. */
  get replica(): TwiceRedisClient {
    return this.slave
  }

  /** The master name the sentinels monitor. */
  get name(): string {
    return this.#options.name
  }

  /** The sentinels, in the order the next discovery will try them. */
  get sentinels(): string[] {
    return this.#sentinels.addresses
  }

  /**
   * What the sentinels report and what this TwiceRedis uses now: the master, every replica with
   * its health (and, when ineligible, why), each sentinel with its round-trip time, and the node
   * each side is connected to. Asks every sentinel once; plain data.
   */
  async topology(): Promise<Topology> {
    const probes = await this.#sentinels.probe()
    const seen = probes.find((p) => p.observation)?.observation
    let masterOffset: number | undefined
    if (this.master.status === 'ready' && this.master.node?.role === 'master') {
      const info = parseInfo(String(await this.master.info('replication')))
      const node = this.master.node
      masterOffset = Number(info.master_repl_offset)
      if (node) {
        const history = this.#resolver.histories.learn(node.address, info)
        this.#resolver.masterOffsets.add(node.address, masterOffset, Date.now(), 'topology', history)
      }
    }
    const masterZone = (m: { host: string; port: number; address: string }) => {
      const zone = this.#resolver.zoneOf(m)?.zone
      return zone === undefined ? {} : { zone }
    }
    const clientZone = this.#options.clientZone
    const replica = this.slave.node
    const read = this.#resolver.readZone
    return {
      name: this.name,
      master: seen ? { address: seen.master.address, ...masterZone(seen.master) } : undefined,
      replicas: reportReplicas(
        // Right after a failover a sentinel may still list the promoted node as a replica.
        (seen?.replicas ?? []).filter((r) => r.address !== seen?.master.address),
        this.#resolver.gates,
        masterOffset ?? seen?.masterOffset,
        this.#resolver.latencies,
        this.#resolver.zoneOf,
      ),
      replicasError: seen?.replicasError,
      sentinels: probes.map(({ observation: _, ...probe }) => probe),
      connected: { master: this.master.node, replica },
      ...(this.#cache && { cache: this.#cache.stats }),
      ...(clientZone !== undefined && {
        zones: {
          client: clientZone,
          read: replica && this.#resolver.zoneOfTarget(replica),
          reason: replica && read?.reason,
        },
      }),
    }
  }

  /**
   * A token for the state after every write sent on `tr.master` so far (`ryw2:<replid>:<offset>`,
   * the master's replication history and offset): hand it to another process, whose
   * `readAfter(token)` makes its reads see those writes. One round trip to the master.
   */
  writeToken(): Promise<string> {
    return this.#session.token()
  }

  /**
   * Reads on `tr.slave` from now on see at least the state of `token` (from `writeToken()`, in
   * this or another process): a replica that has not caught up within `consistencyTimeoutMs`
   * leaves the read to the master. Works with either `consistency`.
   */
  readAfter(token: string): void {
    this.#session.raise(parseToken(token))
  }

  /** Drop both connections; later commands reconnect (through a fresh discovery) on demand. */
  disconnect(): void {
    this.master.disconnect()
    this.slave.disconnect()
  }

  /** Close both clients gracefully, for good: nothing is left to keep the process alive. */
  async quit(): Promise<void> {
    // The read side first: a read it holds for a write of the session may still go to the master.
    await this.slave.quit()
    await this.master.quit()
    this.#metrics.close()
  }

  [inspect.custom](): string {
    return `TwiceRedis { name: '${this.name}', sentinels: [${this.sentinels.map((s) => `'${s}'`).join(', ')}], master: ${inspect(this.master)}, slave: ${inspect(this.slave)} }`
  }

  #clientOptions(side: Side): RedisOptions {
    const o = this.#options
    const maxDelay = o.maxRetryDelayMs
    return {
      lazyConnect: true,
      connectTimeout: o.connectTimeoutMs,
      // Every attempt resolves again, so short, jittered delays cost one sentinel round trip
      // each and spread a crowd of clients out (no thundering herd on the sentinels).
      retryStrategy: (times) =>
        Math.round(Math.min(maxDelay, 25 * 2 ** Math.min(times - 1, 16)) * (0.5 + Math.random() / 2)),
      // After a failover the old master may answer READONLY until we notice: reconnect (which
      // resolves the new master) and resend the command.
      reconnectOnError: side === 'master' ? (err) => (err.message.startsWith('READONLY') ? 2 : false) : null,
      ...o.redisOptions,
      ...(side === 'master' ? o.masterOptions : o.replicaOptions),
      ...credentialsFor(o, side),
      enableReadyCheck: true,
      Connector: TwiceRedisConnector.for(side, this.#resolver, true, o.enableWriteCoalescing),
    }
  }
}
