/** Pure functions over what sentinels and nodes report: parse, judge, pick. No I/O. */

/** Turn a flat `[k1, v1, k2, v2, ...]` reply (SENTINEL MASTER/REPLICAS) into an object. */
export function pairs(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!Array.isArray(reply)) return out
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1])
  return out
}

/** Parse `INFO` text into a field map. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

/** What a sentinel reports about one replica (`SENTINEL REPLICAS <name>`), plus the raw fields. */
export interface ReplicaState {
  /** `host:port` as the sentinel announces it (before any NAT mapping). */
  address: string
  host: string
  port: number
  flags: string[]
  /** `master-link-status`: `ok` or `err`. */
  linkStatus: string
  /** `master-link-down-time` in ms (0 while the link is up). */
  linkDownMs: number
  /** `slave-repl-offset`. */
  offset: number
  /** `slave-priority` (0 means never promoted). */
  priority: number
  /** Every field the sentinel sent. */
  raw: Record<string, string>
}

export function parseReplicas(reply: unknown): ReplicaState[] {
  if (!Array.isArray(reply)) return []
  return reply.map((entry) => {
    const raw = pairs(entry)
    const host = raw.ip ?? ''
    const port = Number(raw.port)
    return {
      address: `${host}:${port}`,
      host,
      port,
      flags: raw.flags ? raw.flags.split(',') : [],
      linkStatus: raw['master-link-status'] ?? '',
      linkDownMs: Number(raw['master-link-down-time'] ?? 0),
      offset: Number(raw['slave-repl-offset'] ?? 0),
      priority: Number(raw['slave-priority'] ?? raw['replica-priority'] ?? 100),
      raw,
    }
  })
}

const downFlags = ['s_down', 'o_down', 'disconnected'] as const

/**
 * Why a replica must not serve reads, or `undefined` if it may. A replica is eligible only when
 * the sentinel flags it none of `s_down`, `o_down`, `disconnected` and its master link is `ok`:
 * a replica that lost its master serves stale data.
 */
export function replicaProblem(replica: ReplicaState): string | undefined {
  const flag = downFlags.find((f) => replica.flags.includes(f))
  if (flag) return `flagged ${flag}`
  if (replica.linkStatus !== 'ok') return `master link ${replica.linkStatus || 'unknown'}`
  return undefined
}

/**
 * Pick a random eligible replica, preferring ones not in `avoid` (addresses that just failed a
 * connect or a role check). `undefined` when none is eligible.
 */
export function pickReplica(
  replicas: readonly ReplicaState[],
  avoid: ReadonlySet<string> = new Set(),
  random: () => number = Math.random,
): ReplicaState | undefined {
  const eligible = replicas.filter((r) => !replicaProblem(r))
  const fresh = eligible.filter((r) => !avoid.has(r.address))
  const pool = fresh.length ? fresh : eligible
  return pool[Math.floor(random() * pool.length)]
}

/**
 * Why a node we connected to must not be used for `role`, judged from its `INFO` fields, or
 * `undefined` if it fits. Sentinels can be seconds behind: a "master" may already be demoted and
 * a "replica" may have lost its link since their last look.
 */
export function roleProblem(role: 'master' | 'replica', info: Record<string, string>): string | undefined {
  if (role === 'master') return info.role === 'master' ? undefined : `reports role ${info.role ?? 'unknown'}`
  if (info.role !== 'slave') return `reports role ${info.role ?? 'unknown'}`
  if (info.master_link_status !== 'up') return `master link ${info.master_link_status ?? 'unknown'}`
  return undefined
}

/** Fisher-Yates shuffle into a new array. */
export function shuffle<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

/** A replica as `topology()` reports it: the sentinel's view, the verdict, and its lag. */
export interface ReplicaReport extends ReplicaState {
  eligible: boolean
  /** Why it is not eligible. */
  reason?: string | undefined
  /** Bytes behind the master (`master_repl_offset` minus `slave-repl-offset`), when known. */
  lagBytes?: number | undefined
}

/** Judge every replica; `masterOffset` (from the master's INFO) gives the lag. */
export function reportReplicas(replicas: readonly ReplicaState[], masterOffset?: number): ReplicaReport[] {
  return replicas.map((r) => {
    const reason = replicaProblem(r)
    return {
      ...r,
      eligible: reason === undefined,
      reason,
      lagBytes: masterOffset === undefined ? undefined : Math.max(0, masterOffset - r.offset),
    }
  })
}
