import { NodeHistories } from '../consistency/histories.js'
import { NodeNotAllowedError, NoHealthyReplicaError } from '../errors.js'
import type { Emit, Side, Target } from '../events.js'
import type { ResolvedOptions } from '../options/normalize.js'
import { natTarget } from '../protocol/address.js'
import { linkDownMs, roleProblem } from '../protocol/node-info.js'
import { infoAgeMs, type ReplicaState } from '../protocol/sentinel-replies.js'
import { watchFor } from '../sentinels/registry.js'
import type { Observation } from '../sentinels/sentinel-query.js'
import type { Sentinels } from '../sentinels/sentinels.js'
import type { Watch } from '../sentinels/watch.js'
import { answerReuseMs } from './answer-reuse.js'
import { AvoidList } from './avoid-list.js'
import {
  type Freshness,
  fallbackReason,
  replicaProblem,
  replicaReasons,
  reportReplicas,
  stalenessProblem,
  type ZoneLookup,
} from './replica-health.js'
import { readZoneReason, selectReplica } from './replica-selection.js'
import { OffsetHistory } from './staleness.js'
import { ZoneBook } from './zone-book.js'

/**
 * The selection policy of one TwiceRedis, shared by both sides: asks the sentinels, judges
 * replica health and freshness, applies the selection and fallback policies and the NAT map,
 * verifies the node a side reached, and remembers what it measured (latencies) and what failed
 * (a short avoid list). It reports what it decides through the TwiceRedis' events.
 */
export class Resolver {
  readonly #avoid = new AvoidList()
  readonly #latencies = new Map<string, number>()
  /** Where each side's own client (`tr.master`, `tr.slave`: the owners) last resolved to. */
  readonly #current: Partial<Record<Side, string>> = {}
  /** By address, the sentinel whose answer named each master chosen: a failed attempt is held against it. */
  readonly #namedBy = new Map<string, string>()
  /** Round-robin turns: the read side's own, and one its duplicates share (they do not move it). */
  #turn = 0
  #duplicateTurn = 0
  readonly #zones: ZoneBook
  /**
   * The one record of the master's offset (`add` it with the master that answered): fed by the
   * session's ROLEs, the health and role checks' INFO and the sentinels' cached INFO; read by
   * `maxStalenessMs` (the history) and the metrics (`latest`).
   */
  readonly masterOffsets: OffsetHistory
  /** The replication history each node was last seen on (every INFO of a node passes here or the sampler). */
  readonly histories = new NodeHistories()
  /** The estimate behind the last staleness refusal of a connected node, for its `node-rejected`. */
  readonly #stale = new Map<string, number>()
  /** The latest answer the read side resolved from (for checks that must not wait for the sentinels). */
  #seen: Observation | undefined
  /** Where the read side is, by zone, and why it is not in the client's. */
  #readZone: { zone: string | undefined; reason?: string | undefined } | undefined

  constructor(
    readonly options: ResolvedOptions,
    readonly sentinels: Sentinels,
    private readonly emit: Emit,
  ) {
    // Long enough to date a replica twice the bound behind; samples come one interval apart (the
    // sampler, the health checks), so twice that is a gap in the record.
    const { maxStalenessMs: max, healthCheckIntervalMs: interval } = options
    this.masterOffsets = new OffsetHistory(max === undefined ? 0 : 2 * max + 2 * interval, 2 * interval)
    this.#zones = new ZoneBook(options.zones)
  }

  get gates(): Freshness {
    const { maxLagBytes, maxLinkDownMs, allowedNodes, maxStalenessMs } = this.options
    const allowed = allowedNodes && ((r: ReplicaState) => allowedNodes(this.#map(r.host, r.port, 'replica').host))
    const history = maxStalenessMs === undefined ? undefined : this.masterOffsets
    // Dated `info-refresh` ms ago; on the history its own INFO named lately (the sentinels name none).
    const on = (r: ReplicaState) => this.histories.recent(r.address, `${r.raw['master-host']}:${r.raw['master-port']}`)
    const seen = (r: ReplicaState) => ({ history: on(r), linkDownMs: r.linkStatus === 'ok' ? 0 : r.linkDownMs })
    const estimate = (r: ReplicaState) => history?.estimate(r.offset, Date.now() - infoAgeMs(r), seen(r))
    const staleness = history && estimate
    return { maxLagBytes, maxLinkDownMs, allowed, maxStalenessMs, staleness, offsetSource: history?.latestSource }
  }

  /** Each node's zone: its own announcement, else the `zones` map (by announced host, then the `natMap` one). */
  readonly zoneOf: ZoneLookup = (r) => this.#zones.of(r.address, [r.host, this.#map(r.host, r.port, 'replica').host])

  /** The zone of the node a side connects to. */
  zoneOfTarget(target: Target): string | undefined {
    return this.#zones.of(target.address, [target.announcedHost, target.host])?.zone
  }

  /** Where the read side is by zone, and why it is not in `clientZone` (with `clientZone`). */
  get readZone(): { zone: string | undefined; reason?: string | undefined } | undefined {
    return this.#readZone
  }

  /** Smoothed round-trip times by replica address. */
  get latencies(): ReadonlyMap<string, number> {
    return this.#latencies
  }

  /**
   * Where `side` should connect; `maxAgeMs` lets an automatic retry reuse a recent sentinel answer.
   * `owner`: the side's own client (`tr.master`, `tr.slave`), whose resolves are where the side is
   * (`*-changed` events, the read zone, the round-robin turn); a `duplicate()` resolves alone.
   */
  async resolve(side: Side, maxAgeMs = 0, owner = true): Promise<Target> {
    const seen = await this.sentinels.observe(maxAgeMs)
    this.#observed(seen)
    let target = this.#map(seen.master.host, seen.master.port, 'master')
    const allowed = this.options.allowedNodes
    if (side === 'replica') {
      for (const r of seen.replicas) {
        const mapped = this.#map(r.host, r.port, 'replica')
        if (allowed && !allowed(mapped.host)) this.reject(side, mapped, 'not in allowedNodes')
      }
      const replica = this.#select(seen, owner ? this.#turn++ : this.#duplicateTurn++)
      if (replica) {
        target = this.#map(replica.host, replica.port, 'replica')
      } else if (!this.options.readFallback) {
        throw new NoHealthyReplicaError(this.options.name, replicaReasons(seen, this.gates))
      }
    }
    // Checked before any socket opens: a node outside allowedNodes gets nothing, not even a connect.
    if (allowed && !allowed(target.host)) throw new NodeNotAllowedError(this.options.name, target.address)
    this.#resolved(side, target, seen, owner)
    return target
  }

  /**
   * Why the node a side reached must not serve its role, judged from its own `INFO` alone (role,
   * master link, and with `maxStalenessMs` its offset against the master's history). On connect
   * it also learns the zone the node announces; a replica announcing a zone other than the one
   * it was chosen for, outside `clientZone`, is refused while one in the zone is eligible.
   */
  verifyRole(target: Target, info: Record<string, string>): string | undefined {
    const history = this.histories.learn(target.address, info)
    const offsets = this.masterOffsets
    if (target.role === 'master' && info.role === 'master') {
      offsets.add(target.address, Number(info.master_repl_offset), Date.now(), 'master-check', history)
    }
    const problem = roleProblem(target.role, info, this.gates)
    if (problem || target.role !== 'replica') return problem
    const zoneProblem = this.#learnZone(target, info.availability_zone)
    const seen = { history, linkDownMs: linkDownMs(info) }
    const estimate = this.gates.staleness && offsets.estimate(Number(info.slave_repl_offset), Date.now(), seen)
    const stale = stalenessProblem(estimate, this.options.maxStalenessMs)
    if (stale) this.#stale.set(target.address, estimate!)
    const verdict = stale ?? zoneProblem
    if (!verdict) this.#avoid.passed(target.address)
    return verdict
  }

  /**
   * Why the node a side reached must not serve its role, from the node's own `INFO` and, for a
   * replica with `maxLagBytes`, the sentinels' latest word on its lag; `undefined` if it fits.
   */
  async verify(target: Target, info: Record<string, string>): Promise<string | undefined> {
    const problem = this.verifyRole(target, info)
    if (problem || target.role !== 'replica' || this.options.maxLagBytes === undefined) return problem
    // Health checks of the process share an answer up to one interval old: a thousand clients ask once.
    const seen = await this.sentinels.observe(this.options.healthCheckIntervalMs)
    const replica = seen.replicas.find((r) => r.address === target.address)
    return replica && replicaProblem(replica, this.gates, seen.masterOffset)
  }

  /**
   * Whether the sentinels now offer a better replica than `current` (the health check asks): any
   * while reads fall back to the master; one in `clientZone` while the read side is outside it.
   */
  async replicaAvailable(current?: Target): Promise<boolean> {
    const zone = this.options.clientZone
    const outside = current?.role === 'replica' && zone !== undefined && this.zoneOfTarget(current) !== zone
    if (current?.role === 'replica' && !outside) return false
    const seen = await this.sentinels.observe(this.options.healthCheckIntervalMs)
    this.#observed(seen)
    // Only one the sentinels call healthy is worth leaving a working connection for (a zone
    // replica they doubt for a moment is tried on a reconnect, not sought: no churn every 5 s).
    const replica = this.#select(seen, this.#turn, false)
    return replica !== undefined && (!outside || this.zoneOf(replica)?.zone === zone)
  }

  /** How old a sentinel answer an attempt of `side` may take (see answer-reuse.ts). */
  reuseMs(side: Side, attempt: { retry: boolean; afterSwitch: boolean }, listeningSince?: number): number {
    return answerReuseMs(side, attempt, listeningSince)
  }

  /**
   * A node failed to connect or a check: prefer others for a while. `refuted`: it answered that
   * it is not what it was chosen as; an answer naming it master is then reused by no one.
   * `attempt`: it happened on the way to ready, so the sentinel that named it as master gave an
   * answer that did not hold, and goes to the back of the order.
   */
  reject(side: Side, target: Target, reason: string, refuted = false, attempt = false): void {
    this.#avoid.add(target.address, refuted)
    if (refuted && target.role === 'master') this.sentinels.forget(target.address)
    const stalenessMs = this.#stale.get(target.address)
    this.#stale.delete(target.address)
    this.emit('node-rejected', {
      side,
      address: target.address,
      reason,
      ...(stalenessMs !== undefined && reason.startsWith('staleness') && { stalenessMs }),
    })
    const sentinel = this.#namedBy.get(target.address)
    if (attempt && target.role === 'master' && sentinel) {
      this.sentinels.refuse({ sentinel, master: target.address, reason })
    }
  }

  /** A round trip to `address` took `ms`: fold it into the smoothed latency. */
  latency(address: string, ms: number): void {
    const before = this.#latencies.get(address)
    this.#latencies.set(address, before === undefined ? ms : before * 0.7 + ms * 0.3)
  }

  /** The process-wide sentinel watch, or `undefined` when failover detection is off. */
  watch(): Watch | undefined {
    return this.options.failoverDetection ? watchFor(this.options) : undefined
  }

  /** Where to connect to the node the sentinels name at `host:port` for `role` (`natMap`), unless `allowedNodes` keeps it out. */
  target(host: string, port: number, role: Target['role']): Target | undefined {
    const target = this.#map(host, port, role)
    const allowed = this.options.allowedNodes
    return !allowed || allowed(target.host) ? target : undefined
  }

  #resolved(side: Side, target: Target, seen: Observation, owner: boolean): void {
    if (target.role === 'master') this.#namedBy.set(target.address, seen.sentinel)
    const zone = this.zoneOfTarget(target)
    const clientZone = this.options.clientZone
    let zoneReason: string | undefined
    if (owner && side === 'replica' && clientZone !== undefined) {
      const reports = () => reportReplicas(seen.replicas, this.gates, seen.masterOffset, this.#latencies, this.zoneOf)
      zoneReason = readZoneReason(target.role, zone, clientZone, reports, this.#avoid.addresses)
      this.#readZone = { zone, reason: zoneReason }
    }
    this.emit('resolved', {
      side,
      address: target.address,
      role: target.role,
      sentinel: seen.sentinel,
      ...(zone !== undefined && { zone }),
      ...(zoneReason !== undefined && { zoneReason }),
    })
    const before = this.#current[side]
    if (owner && before !== target.address) {
      this.#current[side] = target.address
      if (side === 'master') this.emit('master-changed', { from: before, to: target.address })
      else if (target.role === 'replica') this.emit('replica-changed', { from: before, to: target.address })
    }
    if (side === 'replica' && target.role === 'master') {
      this.emit('fallback-to-master', { master: target.address, reason: fallbackReason(seen, this.gates) })
    }
  }

  #select(seen: Observation, turn: number, tryDoubtful = true) {
    this.#avoid.expire()
    return selectReplica(seen.replicas, {
      selection: this.options.replicaSelection,
      gates: this.gates,
      masterOffset: seen.masterOffset,
      avoid: this.#avoid.addresses,
      latencies: this.#latencies,
      turn,
      clientZone: this.options.clientZone,
      zoneOf: this.zoneOf,
      tryDoubtful,
      secondChance: this.#avoid.secondChance,
    })
  }

  /** Take in a sentinel answer: the latest the read side knows, and the master's offset in the sentinels' cache. */
  #observed(seen: Observation): void {
    this.#seen = seen
    if (seen.masterOffset !== undefined && seen.masterOffsetAt !== undefined && !seen.announced) {
      this.masterOffsets.add(seen.master.address, seen.masterOffset, seen.masterOffsetAt, 'sentinels')
    }
  }

  /**
   * Remember the zone a replica announces. If that is news that takes it out of `clientZone`
   * (it was chosen by the map, or by not being known) while a replica of the zone is eligible,
   * refuse it: the next attempt picks one in the zone.
   */
  #learnZone(target: Target, announced: string | undefined): string | undefined {
    const before = this.zoneOfTarget(target)
    if (!this.#zones.announce(target.address, announced)) return undefined
    const zone = this.options.clientZone
    if (zone === undefined || announced === zone || before === announced || !this.#seen) return undefined
    const local = this.#select(this.#seen, this.#turn, false)
    if (!local || local.address === target.address || this.zoneOf(local)?.zone !== zone) return undefined
    return `announces availability_zone ${announced}, not ${zone}, and a replica of ${zone} is eligible`
  }

  /** Apply `natMap`: `address` stays the announced one; `host`/`port` are where to connect. */
  #map(host: string, port: number, role: Target['role']): Target {
    return natTarget(this.options.natMap, host, port, role)
  }
}
