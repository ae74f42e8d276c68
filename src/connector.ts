import { createConnection } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { connect as tlsConnect } from 'node:tls'
import { AbstractConnector } from 'ioredis'
import { NoHealthyReplicaError } from './errors.js'
import type { ResolvedOptions } from './options.js'
import type { Observation, Sentinels } from './sentinels.js'
import { type Freshness, replicaProblem, roleProblem, selectReplica } from './topology.js'

export type Side = 'master' | 'replica'

/** Where a side should connect now, and the role the node must report once connected. */
export interface Target {
  /** Where the socket goes (after `natMap`). */
  host: string
  port: number
  /** `host:port` as the sentinels announce it. */
  address: string
  role: 'master' | 'replica'
}

/** Events the resolver reports to its TwiceRedis. */
export interface ResolverEvents {
  resolved(side: Side, target: Target, sentinel: string): void
  rejected(side: Side, target: Target, reason: string): void
}

/** How long an address that failed a connect or a role check is passed over when another will do. */
const AVOID_MS = 5000

/** How old a sentinel answer an automatic retry may reuse (shared by the clients of a process). */
const RETRY_REUSE_MS = 250

/**
 * Turns "connect the replica side" into an address: asks the sentinels, judges replica health
 * and freshness, applies the selection and fallback policies and the NAT map. Shared by both
 * sides of one TwiceRedis; it also keeps what this process measured of each replica's latency.
 */
export class Resolver {
  #avoid = new Map<string, number>()
  #latencies = new Map<string, number>()
  #turn = 0

  constructor(
    readonly sentinels: Sentinels,
    private readonly options: ResolvedOptions,
    private readonly events: ResolverEvents,
  ) {}

  get gates(): Freshness {
    return { maxLagBytes: this.options.maxLagBytes, maxLinkDownMs: this.options.maxLinkDownMs }
  }

  /** Smoothed round-trip times by replica address. */
  get latencies(): ReadonlyMap<string, number> {
    return this.#latencies
  }

  /** Where `side` should connect; `maxAgeMs` lets an automatic retry reuse a recent sentinel answer. */
  async resolve(side: Side, maxAgeMs = 0): Promise<Target> {
    const seen = await this.sentinels.observe(maxAgeMs)
    let target: Target = this.#map(seen.master.host, seen.master.port, 'master')
    if (side === 'replica') {
      const replica = this.#select(seen, this.#turn++)
      if (replica) {
        target = this.#map(replica.host, replica.port, 'replica')
      } else if (!this.options.readFallback) {
        throw new NoHealthyReplicaError(
          this.options.name,
          seen.replicas.map((r) => ({
            address: r.address,
            reason: replicaProblem(r, this.gates, seen.masterOffset) ?? 'not chosen or failed to connect',
          })),
        )
      }
    }
    this.events.resolved(side, target, seen.sentinel)
    return target
  }

  /** Whether the sentinels now offer a replica this side would use (asked while reads fall back to the master). */
  async replicaAvailable(): Promise<boolean> {
    return this.#select(await this.sentinels.observe(), this.#turn) !== undefined
  }

  /**
   * Whether the replica at `address` still passes the freshness gates by the sentinels' latest
   * word (asked by the health check only when `maxLagBytes` is set: it costs a sentinel query).
   */
  async lagProblem(address: string): Promise<string | undefined> {
    if (this.options.maxLagBytes === undefined) return undefined
    const seen = await this.sentinels.observe()
    const replica = seen.replicas.find((r) => r.address === address)
    return replica && replicaProblem(replica, this.gates, seen.masterOffset)
  }

  /** A node failed to connect or a check: prefer others for a while. */
  reject(side: Side, target: Target, reason: string): void {
    this.#avoid.set(target.address, Date.now() + AVOID_MS)
    this.events.rejected(side, target, reason)
  }

  /** A round trip to `address` took `ms`: fold it into the smoothed latency. */
  latency(address: string, ms: number): void {
    const before = this.#latencies.get(address)
    this.#latencies.set(address, before === undefined ? ms : before * 0.7 + ms * 0.3)
  }

  #select(seen: Observation, turn: number) {
    const now = Date.now()
    for (const [address, until] of this.#avoid) if (until <= now) this.#avoid.delete(address)
    return selectReplica(seen.replicas, {
      selection: this.options.replicaSelection,
      gates: this.gates,
      masterOffset: seen.masterOffset,
      avoid: new Set(this.#avoid.keys()),
      latencies: this.#latencies,
      turn,
    })
  }

  /** Apply `natMap`: `address` stays the announced one; `host`/`port` are where to connect. */
  #map(host: string, port: number, role: Target['role']): Target {
    const address = `${host}:${port}`
    const natMap = this.options.natMap
    const mapped = typeof natMap === 'function' ? natMap(address) : natMap?.[address]
    return { host: mapped?.host ?? host, port: mapped?.port ?? port, address, role }
  }
}

/**
 * The ioredis `Connector` of one side: every (re)connect resolves through the sentinels, then
 * opens a plain TCP (or TLS) stream to the chosen node. ioredis then runs its handshake and its
 * ready check (`INFO`), whose result comes back to {@link check}: a node whose role is wrong is
 * refused, and ioredis reconnects, which resolves again.
 */
export function connectorFor(side: Side, resolver: Resolver): new (options: unknown) => AbstractConnector {
  return class TwiceRedisConnector extends AbstractConnector {
    #target: Target | undefined
    #settled = false
    #startedAt = 0
    /** Set by the client: whether this connect is an automatic retry in an outage. */
    isRetry: () => boolean = () => false
    readonly #tls: ConnectionOptions | undefined

    constructor(options: unknown) {
      const o = options as { disconnectTimeout?: number; tls?: ConnectionOptions }
      super(o.disconnectTimeout ?? 2000)
      this.#tls = o.tls
    }

    async connect(): Promise<NonNullable<AbstractConnector['stream']>> {
      this.connecting = true
      this.#settled = false
      const target = await resolver.resolve(side, this.isRetry() ? RETRY_REUSE_MS : 0)
      if (!this.connecting) throw new Error('Connection is closed.')
      this.#target = target
      this.#startedAt = performance.now()
      const tls = this.#tls
      const stream = tls
        ? tlsConnect({ ...tls, host: target.host, port: target.port })
        : createConnection({ host: target.host, port: target.port })
      stream.once('error', (err) => {
        this.firstError = err
      })
      stream.once('close', () => {
        if (!this.#settled && this.connecting) resolver.reject(side, target, 'connection failed before ready')
      })
      this.stream = stream
      return stream
    }

    override check(info: Record<string, string>): boolean {
      const target = this.#target
      if (!target) return false
      this.#settled = true
      const problem = roleProblem(target.role, info, resolver.gates)
      if (problem) {
        resolver.reject(side, target, problem)
        return false
      }
      // Connect, handshake and INFO: a cheap latency sample for `lowest-latency`.
      if (target.role === 'replica') resolver.latency(target.address, performance.now() - this.#startedAt)
      return true
    }

    /** The node this connector last chose. */
    get target(): Target | undefined {
      return this.#target
    }
  }
}
