/** Which eligible replica the read side picks (selection policies, zones, the avoid list). Pure. */
import type { ReplicaState } from '../protocol/sentinel-replies.js'
import { type Freshness, type ReplicaReport, reportReplicas, type ZoneLookup } from './replica-health.js'

/**
 * How the read side picks among eligible replicas: at random (the default), in turn, the one with
 * the lowest measured round trip, at random within the client's zone (`same-zone`, which needs
 * `clientZone`), or your function, which gets every replica (eligible or not, with its full
 * state) and returns the one to use, or `undefined` for none. With `clientZone`, every built-in
 * policy picks among the replicas of that zone first.
 */
export type ReplicaSelection =
  | 'random'
  | 'round-robin'
  | 'lowest-latency'
  | 'same-zone'
  | ((replicas: readonly ReplicaReport[]) => ReplicaReport | undefined)

export interface SelectionState {
  selection?: ReplicaSelection | undefined
  gates?: Freshness | undefined
  masterOffset?: number | undefined
  /** Addresses that just failed a connect or a check: used only when nothing else will do. */
  avoid?: ReadonlySet<string> | undefined
  /** Smoothed round-trip times by address, for `lowest-latency`. */
  latencies?: ReadonlyMap<string, number> | undefined
  /** How many picks this client made so far, for `round-robin`. */
  turn?: number | undefined
  random?: (() => number) | undefined
  /** The client's zone: built-in policies pick among its replicas first. */
  clientZone?: string | undefined
  /** Each replica's zone (its announcement, else the `zones` map). */
  zoneOf?: ZoneLookup | undefined
  /**
   * Whether a zone replica the sentinels doubt for a moment may be tried before leaving the zone
   * (on a connect, yes; when a health check looks for a better node than a working one, no).
   */
  tryDoubtful?: boolean | undefined
  /**
   * Avoided addresses whose one failure was a connection closed before ready (not the node
   * refuting its role): a zone replica among them gets a second try before the zone is left
   * (sentinels kill every client of a replica they reconfigure, a connect just made included).
   */
  secondChance?: ReadonlySet<string> | undefined
}

/** Pick the replica to read from, or `undefined` when none will do. */
export function selectReplica(replicas: readonly ReplicaState[], state: SelectionState = {}): ReplicaState | undefined {
  const { selection = 'random', avoid = new Set(), latencies = new Map(), random = Math.random } = state
  const reports = reportReplicas(replicas, state.gates, state.masterOffset, latencies, state.zoneOf)
  if (typeof selection === 'function') {
    const chosen = selection(reports)
    return chosen && replicas.find((r) => r.address === chosen.address)
  }
  const eligible = reports.filter((r) => r.eligible)
  const fresh = eligible.filter((r) => !avoid.has(r.address))
  const healthy = fresh.length ? fresh : eligible
  // Same zone first, then the others: a replica that just failed in the zone is passed over for
  // a healthy one elsewhere (and taken back by the health check once it is healthy again).
  const local = state.clientZone === undefined ? [] : healthy.filter((r) => r.zone === state.clientZone)
  // Before leaving the zone, one the sentinels doubt only for a moment is tried: flagged
  // `disconnected` (their own link to it is down, as after every reconfiguration, when they kill
  // its clients, theirs too) or its master link down (as while it resyncs after a failover; their
  // INFO of it is up to a period old). Its own INFO on connect decides; if it fails, it is avoided.
  const zoneOnly = local.length === 0 && state.clientZone !== undefined && state.tryDoubtful !== false
  const inZone = (r: ReplicaReport) => r.zone === state.clientZone
  const doubtful = zoneOnly ? reports.filter((r) => inZone(r) && !avoid.has(r.address) && momentary(r.reason)) : []
  const again = zoneOnly
    ? reports.filter((r) => inZone(r) && state.secondChance?.has(r.address) && (r.eligible || momentary(r.reason)))
    : []
  const pool = local.length ? local : doubtful.length ? doubtful : again.length ? again : healthy
  if (pool.length === 0) return undefined
  let chosen: ReplicaReport | undefined
  if (selection === 'round-robin') {
    const sorted = [...pool].sort((a, b) => a.address.localeCompare(b.address))
    chosen = sorted[(state.turn ?? 0) % sorted.length]
  } else if (selection === 'lowest-latency') {
    // Measure what was never measured first, then take the fastest.
    const unknown = pool.filter((r) => r.latencyMs === undefined)
    chosen = unknown.length
      ? unknown[Math.floor(random() * unknown.length)]
      : pool.reduce((best, r) => (r.latencyMs! < best.latencyMs! ? r : best))
  } else {
    chosen = pool[Math.floor(random() * pool.length)]
  }
  return chosen && replicas.find((r) => r.address === chosen.address)
}

/**
 * Why the read side is not in `clientZone`: each replica of the zone with the reason it was
 * passed over, or that the zone has none (no node announces it and `zones` maps none there).
 */
export function zoneExitReason(
  reports: readonly ReplicaReport[],
  clientZone: string,
  avoid: ReadonlySet<string> = new Set(),
): string {
  const local = reports.filter((r) => r.zone === clientZone)
  if (local.length === 0) return `no replica is in zone ${clientZone}`
  const why = (r: ReplicaReport) =>
    r.reason ?? (avoid.has(r.address) ? 'failed a connect or a check in the last 5 s' : 'not chosen')
  return `no healthy replica in zone ${clientZone}: ${local.map((r) => `${r.address} ${why(r)}`).join('; ')}`
}

/**
 * Why the read side, resolved to a node of `role` in `zone`, is outside `clientZone`; `undefined`
 * when it is in it. `reports` are the replicas as judged for this resolve.
 */
export function readZoneReason(
  role: 'master' | 'replica',
  zone: string | undefined,
  clientZone: string,
  reports: () => readonly ReplicaReport[],
  avoid: ReadonlySet<string>,
): string | undefined {
  if (zone === clientZone) return undefined
  if (role === 'master') return 'no replica is eligible: reads fell back to the master'
  return zoneExitReason(reports(), clientZone, avoid)
}

/** A sentinel's doubt about a replica that the replica's own INFO may lift: its link to it, or its master link. */
function momentary(reason: string | undefined): boolean {
  return reason === 'flagged disconnected' || (reason?.startsWith('master link ') ?? false)
}
