/** The metrics of one TwiceRedis (see otel.ts for how, and when, OpenTelemetry is loaded). */
import type { Command } from 'ioredis'
import type { Side, Target } from '../events.js'
import { offlineQueueLength, onSettled } from '../ioredis-internals.js'
import { CommandAttributes, type Lag, type ReadKey, rejectionReason, sentinelOutcome, split } from './labels.js'
import {
  type Instruments,
  instruments,
  live,
  loadApi,
  type MeasuredClient,
  type Observe,
  providerRegistered,
} from './otel.js'

export { errorType, rejectionReason, sentinelOutcome } from './labels.js'
export type { MeasuredClient } from './otel.js'

/** One command being measured. */
interface Measured {
  start: number
  side: Side
  /** The client that wrote it last (the master's, for a read the read gate moved there). */
  via: MeasuredClient
}

/**
 * A command being measured carries its measurement (measured once, however often ioredis sends it
 * again). A property rather than a WeakMap: a WeakMap of every command in flight costs the
 * garbage collector more than the rest of the measurement together.
 */
const tag = Symbol('twiceredis.measured')
type Tagged = Command & { [tag]?: Measured }

/**
 * The metrics of one TwiceRedis. Idle (every hook returns at once) until a MeterProvider is
 * registered and the API loaded.
 */
export class Metrics {
  #on: Instruments | undefined
  /** The API's import, once a MeterProvider is seen: what is sent meanwhile is recorded once it settles. */
  #loading: Promise<void> | undefined
  readonly #clients: MeasuredClient[] = []
  /** Attributes by node and command name: the same object each time (no allocation per command). */
  readonly #attributes: CommandAttributes
  readonly #reads: Record<ReadKey, number> = { replica: 0, fallback: 0, freshness: 0 }
  readonly #lags = new Map<string, Lag>()
  /** The master's latest offset, from its one record (the Resolver's, see routing/staleness.ts). */
  masterOffset: () => number | undefined = () => undefined
  cache: ((observe: Observe) => void) | undefined // clientCache's counters, observed at each collection
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
  ) {
    this.#attributes = new CommandAttributes(db)
  }

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
    if (!this.#loading || client.status === 'connect' || (command as Tagged)[tag]) return
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
    if (!this.#loading) return
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
    this.cache?.(observe)
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
      const master = this.masterOffset()
      if (master !== undefined && Number.isFinite(lag.offset))
        observe('lag', Math.max(0, master - lag.offset), attributes)
      observe('linkDown', lag.linkDownMs, attributes)
    }
  }

  /** Is a MeterProvider registered now? Then load the API (once) and start. */
  #check(): void {
    if (this.#on || this.#loading || !this.enabled || !providerRegistered()) return
    this.#loading = loadApi().then((a) => {
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

  #settled(
    name: string,
    measured: Measured,
    error: Error | undefined,
    now = performance.now(),
    node = measured.via.node,
  ): void {
    const on = this.#on
    // Sent while the API loads: recorded as it settled, once loaded.
    if (!on) return void this.#loading?.then(() => this.#on && this.#settled(name, measured, error, now, node))
    const via = measured.via
    if (measured.side === 'replica' && !error) {
      if (via.side === 'master') this.#reads.freshness++
      else if (node?.role === 'master') this.#reads.fallback++
      else this.#reads.replica++
    }
    if (this.enabled === true) {
      on.duration.record((now - measured.start) / 1000, this.#attributes.of(name, measured.side, node, error))
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
}
