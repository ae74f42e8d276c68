import { natTarget } from './answers.js'
import { NodeNotAllowedError, NoHealthyReplicaError } from './errors.js'
import type { Emit, Side, Target } from './events.js'
import type { ResolvedOptions } from './options.js'
import { watchFor } from './registry.js'
import type { Observation, Sentinels } from './sentinels.js'
import { type Freshness, type ReplicaState, replicaProblem, roleProblem, selectReplica } from './topology.js'
import type { Watch } from './watch.js'

/** How long an address that failed a connect or a role check is passed over when another will do. */
const AVOID_MS = 5000

/** How old a sentinel answer an automatic retry may reuse (shared by the clients of a process). */
export const RETRY_REUSE_MS = 250

/**
 * While the sentinel watch listens, write-side retries reuse an answer given since it started
 * listening, up to this old: the switch will be announced, and this slow poll only covers an
 * announcement that got lost.
 */
export const FALLBACK_POLL_MS = 3000

/**
 * The selection policy of one TwiceRedis, shared by both sides: asks the sentinels, judges
 * replica health and freshness, applies the selection and fallback policies and the NAT map,
 * verifies the node a side reached, and remembers what it measured (latencies) and what failed
 * (a short avoid list). It reports what it decides through the TwiceRedis' events.
 */
export class Resolver {
  readonly #avoid = new Map<string, number>()
  readonly #latencies = new Map<string, number>()
  readonly #current: Partial<Record<Side, string>> = {}
  /** The sentinel whose answer each side's last resolve took. */
  readonly #answeredBy: Partial<Record<Side, string>> = {}
  #turn = 0

  constructor(
    readonly options: ResolvedOptions,
    readonly sentinels: Sentinels,
    private readonly emit: Emit,
  ) {}

  get gates(): Freshness {
    const { maxLagBytes, maxLinkDownMs, allowedNodes } = this.options
    const allowed = allowedNodes && ((r: ReplicaState) => allowedNodes(this.#map(r.host, r.port, 'replica').host))
    return { maxLagBytes, maxLinkDownMs, allowed }
  }

  /** Smoothed round-trip times by replica address. */
  get latencies(): ReadonlyMap<string, number> {
    return this.#latencies
  }

  /** Where `side` should connect; `maxAgeMs` lets an automatic retry reuse a recent sentinel answer. */
  async resolve(side: Side, maxAgeMs = 0): Promise<Target> {
    const seen = await this.sentinels.observe(maxAgeMs)
    let target = this.#map(seen.master.host, seen.master.port, 'master')
    const allowed = this.options.allowedNodes
    if (side === 'replica') {
      for (const r of seen.replicas) {
        const mapped = this.#map(r.host, r.port, 'replica')
        if (allowed && !allowed(mapped.host)) this.reject(side, mapped, 'not in allowedNodes')
      }
      const replica = this.#select(seen, this.#turn++)
      if (replica) {
        target = this.#map(replica.host, replica.port, 'replica')
      } else if (!this.options.readFallback) {
        throw new NoHealthyReplicaError(this.options.name, this.#reasons(seen))
      }
    }
    // Checked before any socket opens: a node outside allowedNodes gets nothing, not even a connect.
    if (allowed && !allowed(target.host)) throw new NodeNotAllowedError(this.options.name, target.address)
    this.#resolved(side, target, seen)
    return target
  }

  /** Why the node a side reached must not serve its role, judged from its own `INFO` alone. */
  verifyRole(target: Target, info: Record<string, string>): string | undefined {
    return roleProblem(target.role, info, this.gates)
  }

  /**
   * Why the node a side reached must not serve its role, from the node's own `INFO` and, for a
   * replica with `maxLagBytes`, the sentinels' latest word on its lag; `undefined` if it fits.
   */
  async verify(target: Target, info: Record<string, string>): Promise<string | undefined> {
    const problem = this.verifyRole(target, info)
    if (problem || target.role !== 'replica' || this.options.maxLagBytes === undefined) return problem
    const seen = await this.sentinels.observe(this.#checkReuseMs)
    const replica = seen.replicas.find((r) => r.address === target.address)
    return replica && replicaProblem(replica, this.gates, seen.masterOffset)
  }

  /** Whether the sentinels now offer a replica this side would use (asked while reads fall back to the master). */
  async replicaAvailable(): Promise<boolean> {
    return this.#select(await this.sentinels.observe(this.#checkReuseMs), this.#turn) !== undefined
  }

  /**
   * How old a sentinel answer an attempt may take. A first connect asks afresh, as does the read
   * side right after a switch (its replicas changed). Other retries may take one a few hundred ms
   * old, shared by the clients of the process; on the write side, while the sentinel watch
   * listens (`listeningSince`), any answer given since then up to {@link FALLBACK_POLL_MS}: a
   * switch is announced (and the announcement becomes the latest answer), so retries in an
   * outage need not poll the sentinels.
   */
  reuseMs(side: Side, attempt: { retry: boolean; afterSwitch: boolean }, listeningSince?: number): number {
    if (!attempt.retry || (side === 'replica' && attempt.afterSwitch)) return 0
    if (side === 'replica' || listeningSince === undefined) return RETRY_REUSE_MS
    return Math.max(RETRY_REUSE_MS, Math.min(FALLBACK_POLL_MS, Date.now() - listeningSince))
  }

  /**
   * A node failed to connect or a check: prefer others for a while. `refuted`: it answered that
   * it is not what it was chosen as; an answer naming it master is then reused by no one.
   * `attempt`: it happened on the way to ready, so the sentinel that named it as master gave an
   * answer that did not hold, and goes to the back of the order.
   */
  reject(side: Side, target: Target, reason: string, refuted = false, attempt = false): void {
    this.#avoid.set(target.address, Date.now() + AVOID_MS)
    if (refuted && target.role === 'master') this.sentinels.forget(target.address)
    this.emit('node-rejected', { side, address: target.address, reason })
    const sentinel = this.#answeredBy[side]
    if (attempt && target.role === 'master' && sentinel) {
      this.sentinels.refuse({ sentinel, master: target.address, reason })
    }
  }

  /** A round trip to `address` took `ms`: fold it into the smoothed latency. */
  latency(address: string, ms: number): void {
    const before = this.#latencies.get(address)
    this.#latencies.set(address, before === undefined ? ms : before * 0.7 + ms * 0.3)
  }

  /** `sentinel` just announced a switch: ask it first next time. */
  prefer(sentinel: string): void {
    this.sentinels.prefer(sentinel)
  }

  /** The process-wide sentinel watch, or `undefined` when failover detection is off. */
  watch(): Watch | undefined {
    return this.options.failoverDetection ? watchFor(this.options) : undefined
  }

  /**
   * Where to connect to the node the sentinels name at `host:port` for `role` (through `natMap`),
   * or `undefined` if `allowedNodes` keeps it out.
   */
  target(host: string, port: number, role: Target['role']): Target | undefined {
    const target = this.#map(host, port, role)
    const allowed = this.options.allowedNodes
    return !allowed || allowed(target.host) ? target : undefined
  }

  /**
   * Health checks of every client of the process may share a sentinel answer up to one check
   * interval old: a thousand clients with `maxLagBytes` then ask about once per interval, not a
   * thousand times.
   */
  get #checkReuseMs(): number {
    return this.options.healthCheckIntervalMs
  }

  #resolved(side: Side, target: Target, seen: Observation): void {
    this.#answeredBy[side] = seen.sentinel
    this.emit('resolved', { side, address: target.address, role: target.role, sentinel: seen.sentinel })
    const before = this.#current[side]
    if (before !== target.address) {
      this.#current[side] = target.address
      if (side === 'master') this.emit('master-changed', { from: before, to: target.address })
      else if (target.role === 'replica') this.emit('replica-changed', { from: before, to: target.address })
    }
    if (side === 'replica' && target.role === 'master') {
      const reasons = this.#reasons(seen)
      const reason =
        seen.replicasError ??
        (reasons.map((r) => `${r.address} ${r.reason}`).join('; ') || 'the sentinels list no replica')
      this.emit('fallback-to-master', { master: target.address, reason })
    }
  }

  #reasons(seen: Observation): { address: string; reason: string }[] {
    if (seen.replicasError) return [{ address: seen.sentinel, reason: seen.replicasError }]
    return seen.replicas.map((r) => ({
      address: r.address,
      reason: replicaProblem(r, this.gates, seen.masterOffset) ?? 'not chosen or failed to connect',
    }))
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

  #map(host: string, port: number, role: Target['role']): Target {
    return natTarget(this.options.natMap, host, port, role)
  }
}
