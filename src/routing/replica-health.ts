/** Whether a replica may serve reads, judged from what the sentinels report of it. Pure. */
import type { ReplicaState } from '../protocol/sentinel-replies.js'
import type { OffsetSource } from './staleness.js'
import type { ZoneSource } from './zone-book.js'

const downFlags = ['s_down', 'o_down', 'disconnected'] as const

/** Freshness gates: how stale a replica may be and still serve reads. */
export interface Freshness {
  /** Most bytes a replica may be behind the master (`undefined`: no limit). */
  maxLagBytes?: number | undefined
  /** How long a replica's master link may have been down and still serve (`undefined`: it must be up). */
  maxLinkDownMs?: number | undefined
  /** Whether the replica is somewhere data nodes may be (`allowedNodes`); `undefined`: anywhere. */
  allowed?: ((replica: ReplicaState) => boolean) | undefined
  /** Most ms a replica may be behind the master (`undefined`: no limit); needs `staleness`. */
  maxStalenessMs?: number | undefined
  /** The estimate of how stale a replica is, in ms (see staleness.ts); `undefined`: unknown. */
  staleness?: ((replica: ReplicaState) => number | undefined) | undefined
  /** Where the master's offset that `staleness` compares with came from (its newest sample). */
  offsetSource?: OffsetSource | undefined
}

/**
 * Why a replica must not serve reads, or `undefined` if it may. A replica is eligible only when
 * the sentinel flags it none of `s_down`, `o_down`, `disconnected` and its master link is `ok`
 * (a replica that lost its master serves stale data), or down for no longer than
 * `maxLinkDownMs`; and, with `maxLagBytes` and the master's offset known, it is not further
 * behind than that.
 */
export function replicaProblem(
  replica: ReplicaState,
  gates: Freshness = {},
  masterOffset?: number,
): string | undefined {
  if (gates.allowed && !gates.allowed(replica)) return 'not in allowedNodes'
  const flag = downFlags.find((f) => replica.flags.includes(f))
  if (flag) return `flagged ${flag}`
  if (replica.linkStatus !== 'ok') {
    const max = gates.maxLinkDownMs
    if (max === undefined) return `master link ${replica.linkStatus || 'unknown'}`
    if (replica.linkDownMs > max) return `master link down ${replica.linkDownMs} ms > maxLinkDownMs`
  }
  if (gates.maxLagBytes !== undefined && masterOffset !== undefined) {
    const lag = masterOffset - replica.offset
    if (lag > gates.maxLagBytes) return `lag ${lag} bytes > maxLagBytes`
  }
  return stalenessProblem(gates.staleness?.(replica), gates.maxStalenessMs)
}

/** Why a replica estimated `estimate` ms stale must not serve reads under `maxStalenessMs`, if it must not. */
export function stalenessProblem(estimate: number | undefined, max: number | undefined): string | undefined {
  if (max === undefined || estimate === undefined || estimate <= max) return undefined
  if (estimate === Number.POSITIVE_INFINITY) return 'on another replication history than the master'
  return `staleness ~${estimate} ms > maxStalenessMs ${max}`
}

/** A replica as `topology()` and selection functions see it: the sentinel's view, the verdict, and its lag. */
export interface ReplicaReport extends ReplicaState {
  eligible: boolean
  /** Why it is not eligible. */
  reason?: string | undefined
  /** Bytes behind the master, when the master's offset is known. */
  lagBytes?: number | undefined
  /** Round-trip time this process measured to it (ms, smoothed), if it connected to it. */
  latencyMs?: number | undefined
  /** Its availability zone, when it announces one or `zones` maps it. */
  zone?: string | undefined
  /** Where {@link zone} came from: the node's own `availability_zone` or the `zones` map. */
  zoneSource?: ZoneSource | undefined
  /** How far behind the master it is, in ms, estimated from offsets (with `maxStalenessMs`). */
  stalenessMs?: number | undefined
  /** Where the master's offset behind {@link stalenessMs} came from (see staleness.ts). */
  masterOffsetSource?: OffsetSource | undefined
}

/** A node's zone and where it came from, as selection sees it. */
export type ZoneLookup = (
  node: Pick<ReplicaState, 'address' | 'host' | 'port'>,
) => { zone: string; source: ZoneSource } | undefined

/** Judge every replica. */
export function reportReplicas(
  replicas: readonly ReplicaState[],
  gates: Freshness = {},
  masterOffset?: number,
  latencies: ReadonlyMap<string, number> = new Map(),
  zoneOf?: ZoneLookup,
): ReplicaReport[] {
  return replicas.map((r) => {
    const reason = replicaProblem(r, gates, masterOffset)
    const zone = zoneOf?.(r)
    return {
      ...r,
      eligible: reason === undefined,
      reason,
      lagBytes: masterOffset === undefined ? undefined : Math.max(0, masterOffset - r.offset),
      latencyMs: latencies.get(r.address),
      ...(zone && { zone: zone.zone, zoneSource: zone.source }),
      ...(gates.maxStalenessMs !== undefined && {
        stalenessMs: gates.staleness?.(r),
        masterOffsetSource: gates.offsetSource,
      }),
    }
  })
}

/** What a sentinel answered about the replicas, as the reasons for not reading from one need it. */
interface ReplicasAnswer {
  sentinel: string
  replicas: readonly ReplicaState[]
  masterOffset?: number | undefined
  replicasError?: string | undefined
}

/** Why no replica of an answer was used: each replica's problem, or why the sentinel listed none. */
export function replicaReasons(seen: ReplicasAnswer, gates: Freshness): { address: string; reason: string }[] {
  if (seen.replicasError) return [{ address: seen.sentinel, reason: seen.replicasError }]
  return seen.replicas.map((r) => ({
    address: r.address,
    reason: replicaProblem(r, gates, seen.masterOffset) ?? 'not chosen or failed to connect',
  }))
}

/** The reason of a `fallback-to-master` event: why reads went to the master. */
export function fallbackReason(seen: ReplicasAnswer, gates: Freshness): string {
  const reasons = replicaReasons(seen, gates)
  return (
    seen.replicasError ?? (reasons.map((r) => `${r.address} ${r.reason}`).join('; ') || 'the sentinels list no replica')
  )
}
