/**
 * OpenTelemetry metrics of one TwiceRedis: the database-client semantic conventions for every
 * command of both sides, and what only a Sentinel client can tell (`twiceredis.*`).
 *
 * `@opentelemetry/api` is an optional peer dependency. Nothing is loaded, and nothing measured,
 * until a MeterProvider is registered: the check reads the API's process-wide registration (the
 * global every copy of API 1.x shares), and only then is the API itself imported, lazily, with a
 * dynamic `import()` that works from the ESM and the CommonJS build and in Bun, and that fails
 * quietly where the package is not installed. The check runs as a TwiceRedis is built and again
 * each time one of its sides becomes ready, so a provider registered later is picked up then.
 *
 * Per command the cost is two clock reads, a few map lookups and the SDK's `record()`; counts
 * that change per command (reads by where served) are plain integers read at collection time.
 */
import type * as Api from '@opentelemetry/api'
import type { Command, Redis } from 'ioredis'
import type { Side, Target } from './events.js'
import { offlineQueueLength, onSettled } from './ioredis-internals.js'

/** Where any copy of `@opentelemetry/api` 1.x registers its global providers. */
const registry = Symbol.for('opentelemetry.js.api.1')

/** Semantic-convention buckets for durations in seconds (database client metrics). */
const SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]
/** Buckets for the `twiceredis.*` durations, in ms: a blip to a slow failover. */
const MILLISECONDS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000]

type Loaded = { metrics: Api.MetricsAPI }
let api: Promise<Loaded | undefined> | undefined

/** Whether some copy of the API has a global MeterProvider (no module is loaded to tell). */
function providerRegistered(): boolean {
  const global = (globalThis as Record<symbol, { metrics?: unknown } | undefined>)[registry]
  return global?.metrics !== undefined
}

function loadApi(): Promise<Loaded | undefined> {
  // (Named exports, or a default export holding them, whichever the loader made of the module.)
  api ??= import('@opentelemetry/api').then(
    (m: Partial<Loaded> & { default?: Partial<Loaded> }) => {
      const metrics = m.metrics ?? m.default?.metrics
      return metrics && { metrics }
    },
    () => undefined,
  )
  return api
}

/** The client of one side, as the metrics see it (a TwiceRedisClient). */
export type MeasuredClient = Redis & { readonly side: Side; readonly node: Target | undefined }

/** The instruments, made once per MeterProvider and shared by every TwiceRedis of the process. */
interface Instruments {
  provider: Api.MeterProvider
  duration: Api.Histogram
  createTime: Api.Histogram
  unavailable: Api.Histogram
  fenceDuration: Api.Histogram
  fenceHeld: Api.Counter
  sentinelQueries: Api.Counter
  rejected: Api.Counter
}

let shared: Instruments | undefined
/**
 * The TwiceRedis instances whose observable values are reported at collection time. Weakly: a
 * TwiceRedis disconnected and dropped by the application (not quit) must still be collected.
 */
const live = new Set<WeakRef<Metrics>>()

function instruments(a: Loaded): Instruments {
  const provider = a.metrics.getMeterProvider()
  if (shared?.provider === provider) return shared
  const meter = provider.getMeter('twiceredis')
  const histogram = (name: string, unit: string, description: string, buckets: number[]) =>
    meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: buckets } })
  shared = {
    provider,
    duration: histogram('db.client.operation.duration', 's', 'Duration of database client operations.', SECONDS),
    createTime: histogram(
      'db.client.connection.create_time',
      's',
      'The time it took to create a new connection (sentinel discovery, connect, handshake, role check).',
      SECONDS,
    ),
    unavailable: histogram(
      'twiceredis.write.unavailable',
      'ms',
      'Per outage of the write side: from the first write held or failed to the first write the master acknowledged.',
      MILLISECONDS,
    ),
    fenceDuration: histogram(
      'twiceredis.write.fence.duration',
      'ms',
      'How long the write fence held writes.',
      MILLISECONDS,
    ),
    fenceHeld: meter.createCounter('twiceredis.write.fence.held', {
      unit: '{command}',
      description: 'Commands the write fence held.',
    }),
    sentinelQueries: meter.createCounter('twiceredis.sentinel.queries', {
      unit: '{query}',
      description: 'Sentinels asked during a discovery, by outcome.',
    }),
    rejected: meter.createCounter('twiceredis.node.rejected', {
      unit: '{node}',
      description: 'Nodes refused after being chosen (role, link, lag, allowedNodes, connect), by reason.',
    }),
  }
  const count = meter.createObservableUpDownCounter('db.client.connection.count', {
    unit: '{connection}',
    description: 'The number of connections that are currently in state described by the state attribute.',
  })
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    unit: '{request}',
    description: 'The number of commands waiting for a connection.',
  })
  const reads = meter.createObservableCounter('twiceredis.reads', {
    unit: '{command}',
    description: 'Commands of the read side, by where they were served and why.',
  })
  const lag = meter.createObservableGauge('twiceredis.replica.lag', {
    unit: 'By',
    description:
      "How far a replica is behind its master, as the last health check saw it (the master's offset minus the replica's).",
  })
  const linkDown = meter.createObservableGauge('twiceredis.replica.link_down', {
    unit: 'ms',
    description: "How long a replica's link to its master has been down, as the last health check saw it (0: up).",
  })
  const observables = { count, pending, reads, lag, linkDown }
  meter.addBatchObservableCallback((result) => {
    for (const ref of live) {
      const m = ref.deref()
      if (m) m.observe((name, value, attributes) => result.observe(observables[name], value, attributes))
      else live.delete(ref)
    }
  }, Object.values(observables))
  return shared
}

/** Reports one value of an observable instrument at collection time. */
type Observe = (name: 'count' | 'pending' | 'reads' | 'lag' | 'linkDown', value: number, attributes: Attributes) => void

/** One command being measured. */
interface Measured {
  start: number
  side: Side
  /** The client that wrote it last (the master's, for a read the read gate moved there). */
  via: MeasuredClient
}

type Attributes = Record<string, string | number | boolean>

/**
 * A command being measured carries its measurement (measured once, however often ioredis sends it
 * again). A property rather than a WeakMap: a WeakMap of every command in flight costs the
 * garbage collector more than the rest of the measurement together.
 */
const tag = Symbol('twiceredis.measured')
type Tagged = Command & { [tag]?: Measured }

/** A replica as a health check last saw it: its offset (lag is the master's latest offset minus it). */
interface Lag {
  host: string
  port: number
  offset: number
  linkDownMs: number
  at: number
}

/** How a read was served, counted for `twiceredis.reads`. */
type ReadKey = 'replica' | 'fallback' | 'freshness'

/**
 * The metrics of one TwiceRedis. Idle (every hook returns at once) until a MeterProvider is
 * registered and the API loaded.
 */
export class Metrics {
  #on: Instruments | undefined
  readonly #clients: MeasuredClient[] = []
  /** Attributes by node and command name: the same object each time (no allocation per command). */
  readonly #attributes = new WeakMap<Target, Map<string, Attributes>>()
  readonly #reads: Record<ReadKey, number> = { replica: 0, fallback: 0, freshness: 0 }
  readonly #lags = new Map<string, Lag>()
  #masterOffset: number | undefined
  /** Write-side commands not settled yet, oldest first. */
  readonly #pendingWrites = new Set<Measured>()
  /** The write side is out (connection lost or writes fenced) since this time; `undefined`: it is not. */
  #outageAt: number | undefined
  #outageFrom: string | undefined
  /** The start of the oldest write the outage held or failed (`Infinity`: none yet). */
  #windowStart = Number.POSITIVE_INFINITY
  #fenced = false
  #connecting: Partial<Record<Side, number>> = {}
  /** How the module-wide set of live instances refers to this one. */
  readonly #self = new WeakRef(this)

  constructor(
    readonly masterName: string,
    readonly db: number,
    readonly healthCheckIntervalMs: number,
    /** `metrics` of the options: `false` never starts; `'without-commands'` records no operation durations. */
    readonly enabled: boolean | 'without-commands' = true,
  ) {}

  /** Watch a side's connections, and start measuring once a MeterProvider is there. */
  attach(client: MeasuredClient): void {
    this.#clients.push(client)
    client.on('connecting', () => {
      if (this.#on) this.#connecting[client.side] = performance.now()
    })
    client.on('ready', () => {
      this.#check()
      this.#ready(client)
    })
    client.on('reconnecting', () => {
      if (client.side === 'master') this.#outage()
    })
    this.#check()
  }

  /** The TwiceRedis quit: stop reporting its observable values. */
  close(): void {
    live.delete(this.#self)
  }

  /** A command of the application entered `client` (once per command; ioredis' own handshake is skipped). */
  sent(command: Command, client: MeasuredClient): void {
    if (!this.#on || client.status === 'connect' || (command as Tagged)[tag]) return
    const measured: Measured = { start: performance.now(), side: client.side, via: client }
    ;(command as Tagged)[tag] = measured
    if (client.side === 'master') {
      this.#pendingWrites.add(measured)
      if (this.#outageAt !== undefined && client.status !== 'ready') this.#held(measured.start)
      else if (this.#fenced) this.#held(measured.start)
    }
    onSettled(command, (error) => this.#settled(command.name, measured, error))
  }

  /** `client` writes `command` (or queues it): the node that answers is its node. */
  written(command: Command, client: MeasuredClient): void {
    const measured = (command as Tagged)[tag]
    if (measured) measured.via = client
  }

  /** An event of the TwiceRedis' sink (by name: the write fence's events are matched the same way). */
  event(event: string, payload: unknown): void {
    const on = this.#on
    if (!on) return
    const p = payload as Record<string, unknown>
    switch (event) {
      case 'node-rejected': {
        const { host, port } = split(String(p.address))
        on.rejected.add(1, {
          'twiceredis.side': String(p.side),
          'twiceredis.reason': rejectionReason(String(p.reason)),
          'server.address': host,
          'server.port': port,
        })
        return
      }
      case 'write-fence':
        this.#fenced = true
        this.#outage()
        return
      case 'write-unfence': {
        this.#fenced = false
        const attributes = { 'twiceredis.reason': String(p.reason) }
        if (typeof p.durationMs === 'number') on.fenceDuration.record(p.durationMs, attributes)
        if (typeof p.held === 'number') on.fenceHeld.add(p.held, attributes)
        if (this.#windowStart === Number.POSITIVE_INFINITY) this.#outageAt = undefined
        return
      }
    }
  }

  /** A sentinel this instance asked answered (`undefined`), does not monitor the name (`null`), or failed. */
  sentinel(address: string, outcome: unknown): void {
    const on = this.#on
    if (!on) return
    const { host, port } = split(address)
    on.sentinelQueries.add(1, {
      'server.address': host,
      'server.port': port,
      'twiceredis.outcome':
        outcome === undefined ? 'answered' : outcome === null ? 'unknown-master' : sentinelOutcome(outcome),
    })
  }

  /** What a health check's `INFO replication` of `target` said: the lag of the replicas it names. */
  health(target: Target, info: Record<string, string>): void {
    if (!this.#on) return
    const now = Date.now()
    if (info.role === 'master') {
      const offset = Number(info.master_repl_offset)
      if (!Number.isFinite(offset)) return
      this.#masterOffset = offset
      for (const [key, value] of Object.entries(info)) {
        if (!/^slave\d+$/.test(key)) continue
        const f = Object.fromEntries(value.split(',').map((kv) => kv.split('=') as [string, string]))
        const port = Number(f.port)
        if (!f.ip || !Number.isFinite(port)) continue
        this.#lags.set(`${f.ip}:${port}`, { host: f.ip, port, offset: Number(f.offset), linkDownMs: 0, at: now })
      }
    } else if (info.role === 'slave') {
      const { host, port } = split(target.address)
      this.#lags.set(target.address, {
        host,
        port,
        offset: Number(info.slave_repl_offset ?? info.master_repl_offset),
        linkDownMs: info.master_link_status === 'up' ? 0 : Number(info.master_link_down_since_seconds ?? 0) * 1000,
        at: now,
      })
    }
  }

  /** @internal the observable values, reported at each collection */
  observe(observe: Observe): void {
    for (const client of this.#clients) {
      const node = client.node
      const pool = `${this.masterName}/${client.side}`
      const base = { 'db.client.connection.pool.name': pool, 'twiceredis.side': client.side }
      if (client.status === 'ready' && node) {
        const state = client.commandQueue.length > 0 ? 'used' : 'idle'
        observe('count', 1, {
          ...base,
          'db.client.connection.state': state,
          'server.address': node.host,
          'server.port': node.port,
        })
      }
      observe('pending', offlineQueueLength(client), base)
    }
    const reads = this.#reads
    observe('reads', reads.replica, { 'twiceredis.served_by': 'replica', 'twiceredis.reason': 'replica' })
    observe('reads', reads.fallback, { 'twiceredis.served_by': 'master', 'twiceredis.reason': 'fallback' })
    observe('reads', reads.freshness, { 'twiceredis.served_by': 'master', 'twiceredis.reason': 'freshness' })
    // A replica no health check has seen for a while (the read side left it) drops out.
    const stale = Date.now() - Math.max(5000, 5 * this.healthCheckIntervalMs)
    for (const [key, lag] of this.#lags) {
      if (lag.at < stale) {
        this.#lags.delete(key)
        continue
      }
      const attributes = { 'server.address': lag.host, 'server.port': lag.port, 'db.namespace': this.masterName }
      const master = this.#masterOffset
      if (master !== undefined && Number.isFinite(lag.offset))
        observe('lag', Math.max(0, master - lag.offset), attributes)
      observe('linkDown', lag.linkDownMs, attributes)
    }
  }

  /** Is a MeterProvider registered now? Then load the API (once) and start. */
  #check(): void {
    if (this.#on || !this.enabled || !providerRegistered()) return
    void loadApi().then((a) => {
      if (!a || this.#on) return
      this.#on = instruments(a)
      live.add(this.#self)
    })
  }

  #ready(client: MeasuredClient): void {
    const on = this.#on
    const started = this.#connecting[client.side]
    this.#connecting[client.side] = undefined
    const node = client.node
    if (on && started !== undefined && node) {
      on.createTime.record((performance.now() - started) / 1000, {
        'db.client.connection.pool.name': `${this.masterName}/${client.side}`,
        'twiceredis.side': client.side,
        'twiceredis.node.role': node.role,
        'server.address': node.host,
        'server.port': node.port,
      })
    }
    // Back without a write having waited: there was no unavailability to report.
    if (client.side === 'master' && !this.#fenced && this.#windowStart === Number.POSITIVE_INFINITY) {
      this.#outageAt = undefined
    }
  }

  /** The write side went out (its connection dropped, or the fence holds writes). */
  #outage(): void {
    if (this.#outageAt !== undefined || !this.#on) return
    this.#outageAt = performance.now()
    this.#outageFrom = this.#clients.find((c) => c.side === 'master')?.node?.address
    // The oldest write in flight on the lost connection is held from its start (it is sent
    // again once connected); a fence holds only what comes after it.
    if (!this.#fenced) this.#windowStart = this.#pendingWrites.values().next().value?.start ?? this.#windowStart
  }

  #held(start: number): void {
    if (start < this.#windowStart) this.#windowStart = start
  }

  #settled(name: string, measured: Measured, error: Error | undefined): void {
    const on = this.#on
    if (!on) return
    const now = performance.now()
    const via = measured.via
    const node = via.node
    if (measured.side === 'replica' && !error) {
      if (via.side === 'master') this.#reads.freshness++
      else if (node?.role === 'master') this.#reads.fallback++
      else this.#reads.replica++
    }
    if (this.enabled === true) {
      on.duration.record((now - measured.start) / 1000, this.#attributesOf(name, measured.side, node, error))
    }
    if (measured.side !== 'master') return
    this.#pendingWrites.delete(measured)
    if (this.#outageAt === undefined) return
    if (error) {
      this.#held(measured.start)
      return
    }
    // Acknowledged: the first write part of the outage that succeeds ends it.
    if (measured.start < this.#windowStart) return
    on.unavailable.record(now - this.#windowStart, {
      'db.namespace': this.masterName,
      'server.address': node?.host ?? 'unknown',
      'server.port': node?.port ?? 0,
      'twiceredis.master_changed': node?.address !== this.#outageFrom,
    })
    this.#outageAt = undefined
    this.#windowStart = Number.POSITIVE_INFINITY
  }

  #attributesOf(name: string, side: Side, node: Target | undefined, error: Error | undefined): Attributes {
    if (error || !node) return this.#makeAttributes(name, side, node, error)
    let byName = this.#attributes.get(node)
    if (!byName) {
      byName = new Map()
      this.#attributes.set(node, byName)
    }
    let attributes = byName.get(name)
    if (!attributes) {
      attributes = this.#makeAttributes(name, side, node, undefined)
      byName.set(name, attributes)
    }
    return attributes
  }

  #makeAttributes(name: string, side: Side, node: Target | undefined, error: Error | undefined): Attributes {
    const attributes: Attributes = {
      'db.system.name': 'redis',
      'db.namespace': String(this.db),
      'db.operation.name': name.toUpperCase(),
      'twiceredis.side': side,
    }
    if (node) {
      attributes['server.address'] = node.host
      attributes['server.port'] = node.port
      attributes['twiceredis.node.role'] = node.role
    }
    if (error) attributes['error.type'] = errorType(error)
    return attributes
  }
}

/** A low-cardinality name for an error: our codes, Node's (`ECONNRESET`), a Redis error's prefix. */
export function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') return code
  if (error.name === 'ReplyError') return /^[A-Z][A-Z_]+/.exec(error.message)?.[0] ?? 'ReplyError'
  return error.name || 'Error'
}

/** Why a node was refused, as one of a few words (the `node-rejected` reason is free text). */
export function rejectionReason(reason: string): string {
  if (/allowedNodes/.test(reason)) return 'allowed-nodes'
  if (/^reports role/.test(reason)) return 'role'
  if (/\blag\b/.test(reason)) return 'lag'
  if (/master link/.test(reason)) return 'link'
  if (/^flagged/.test(reason)) return 'flagged'
  if (/connect|ready|ECONN|EHOST|ETIMEDOUT/.test(reason)) return 'connect'
  return 'other'
}

/** How a sentinel failed a discovery. */
export function sentinelOutcome(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown }
  const message = typeof e?.message === 'string' ? e.message : String(error)
  if (/did not answer within/.test(message)) return 'timeout'
  if (/^(WRONGPASS|NOAUTH)|invalid password|invalid username-password/i.test(message)) return 'auth'
  if (e?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return 'refused'
  if (/no usable address/.test(message)) return 'bad-answer'
  return 'error'
}

function split(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i).replace(/^\[|\]$/g, '')
  return { host, port: Number(address.slice(i + 1)) }
}
