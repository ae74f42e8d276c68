import { createConnection } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { connect as tlsConnect } from 'node:tls'
import { AbstractConnector } from 'ioredis'
import { NoHealthyReplicaError } from './errors.js'
import type { ResolvedOptions } from './options.js'
import type { Sentinels } from './sentinels.js'
import { pickReplica, replicaProblem, roleProblem } from './topology.js'

export type Side = 'master' | 'replica'

/** Where a side should connect now, and the role the node must report once connected. */
export interface Target {
  host: string
  port: number
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

/**
 * Turns "connect the replica side" into an address: asks the sentinels, judges replica health,
 * applies the fallback policy. Shared by both sides of one TwiceRedis.
 */
export class Resolver {
  #avoid = new Map<string, number>()

  constructor(
    readonly sentinels: Sentinels,
    private readonly options: ResolvedOptions,
    private readonly events: ResolverEvents,
  ) {}

  async resolve(side: Side): Promise<Target> {
    const seen = await this.sentinels.observe()
    const { master } = seen
    let target: Target = { ...master, role: 'master' }
    if (side === 'replica') {
      const replica = pickReplica(seen.replicas, this.#avoiding())
      if (replica) {
        target = { host: replica.host, port: replica.port, address: replica.address, role: 'replica' }
      } else if (!this.options.readFallback) {
        throw new NoHealthyReplicaError(
          this.options.name,
          seen.replicas.map((r) => ({ address: r.address, reason: replicaProblem(r) ?? 'failed to connect' })),
        )
      }
    }
    this.events.resolved(side, target, seen.sentinel)
    return target
  }

  /** A node failed to connect or to pass its role check: prefer others for a while. */
  reject(side: Side, target: Target, reason: string): void {
    this.#avoid.set(target.address, Date.now() + AVOID_MS)
    this.events.rejected(side, target, reason)
  }

  #avoiding(): Set<string> {
    const now = Date.now()
    for (const [address, until] of this.#avoid) if (until <= now) this.#avoid.delete(address)
    return new Set(this.#avoid.keys())
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
    readonly #tls: ConnectionOptions | undefined

    constructor(options: unknown) {
      const o = options as { disconnectTimeout?: number; tls?: ConnectionOptions }
      super(o.disconnectTimeout ?? 2000)
      this.#tls = o.tls
    }

    async connect(): Promise<NonNullable<AbstractConnector['stream']>> {
      this.connecting = true
      this.#settled = false
      const target = await resolver.resolve(side)
      if (!this.connecting) throw new Error('Connection is closed.')
      this.#target = target
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
      const problem = roleProblem(target.role, info)
      if (problem) {
        resolver.reject(side, target, problem)
        return false
      }
      return true
    }

    /** The node this connector last chose. */
    get target(): Target | undefined {
      return this.#target
    }
  }
}
