/** Pure functions over what sentinels and nodes report: parse, judge, pick. No I/O. */
import type { ZoneSource } from './zones.js'

/** `host:port`, with an IPv6 host in brackets (`[::1]:6379`): the one spelling of an address everywhere. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Turn a flat `[k1, v1, k2, v2, ...]` reply (SENTINEL MASTER/REPLICAS) into an object. */
export function pairs(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!Array.isArray(reply)) return out
  for (let i = 0; i + 1 < reply.length; i += 2) out[text(reply[i])] = text(reply[i + 1])
  return out
}

/** A reply element as text: strings, numbers and buffers as they read; anything else (nested arrays, ...) as ''. */
export function text(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  return Buffer.isBuffer(value) ? value.toString() : ''
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

/** Replicas from `SENTINEL REPLICAS`; an entry without a usable address is left out (nothing to connect to). */
export function parseReplicas(reply: unknown): ReplicaState[] {
  if (!Array.isArray(reply)) return []
  return reply.flatMap((entry) => {
    const raw = pairs(entry)
    const host = raw.ip ?? ''
    const port = Number(raw.port)
    if (!validHost(host) || !validPort(port)) return []
    return [
      {
        address: formatAddress(host, port),
        host,
        port,
        flags: raw.flags ? raw.flags.split(',') : [],
        linkStatus: raw['master-link-status'] ?? '',
        linkDownMs: count(raw['master-link-down-time']),
        offset: count(raw['slave-repl-offset']),
        priority: count(raw['slave-priority'] ?? raw['replica-priority'] ?? '100'),
        raw,
      },
    ]
  })
}

/** The other sentinels a sentinel knows (`SENTINEL SENTINELS <name>`); entries without a usable address are left out. */
export function parseSentinels(reply: unknown): { host: string; port: number }[] {
  if (!Array.isArray(reply)) return []
  return reply.flatMap((entry) => {
    const raw = pairs(entry)
    const host = raw.ip ?? ''
    const port = Number(raw.port)
    return validHost(host) && validPort(port) ? [{ host, port }] : []
  })
}

/** A sentinel in a TwiceRedis' list: configured, or learned from the others' answers. */
export interface KnownSentinel {
  host: string
  port: number
  learned: boolean
  /** When an answer last mentioned it (ms since epoch); configured ones are never dropped. */
  lastSeen: number
}

/**
 * The list after an answer: sentinels it reports that the list lacks are added at the end (in
 * random order among themselves, so the list stays shuffled per instance) if `allowed`; those
 * it reports are marked seen; learned ones not seen for `goneMs` are dropped. Order is kept.
 */
export function refreshSentinels(
  known: readonly KnownSentinel[],
  reported: readonly { host: string; port: number }[],
  now: number,
  {
    goneMs,
    allowed = () => true,
    random = Math.random,
  }: { goneMs: number; allowed?: (host: string) => boolean; random?: () => number },
): KnownSentinel[] {
  const key = (s: { host: string; port: number }) => formatAddress(s.host, s.port)
  const seen = new Set(reported.map(key))
  const kept = known
    .map((s) => (seen.has(key(s)) ? { ...s, lastSeen: now } : s))
    .filter((s) => !s.learned || now - s.lastSeen <= goneMs)
  const have = new Set(kept.map(key))
  const added = reported
    .filter((s, i) => !have.has(key(s)) && allowed(s.host) && reported.findIndex((r) => key(r) === key(s)) === i)
    .map((s) => ({ host: s.host, port: s.port, learned: true, lastSeen: now }))
  return [...kept, ...shuffle(added, random)]
}

/**
 * The master address in a `SENTINEL GET-MASTER-ADDR-BY-NAME` reply: `[host, port]`; `null` when
 * the sentinel does not know the name; `undefined` for anything else (a reply not to trust).
 */
export function parseMasterAddress(reply: unknown): { host: string; port: number } | null | undefined {
  if (reply === null) return null
  if (!Array.isArray(reply) || reply.length !== 2) return undefined
  const host = typeof reply[0] === 'string' ? reply[0] : ''
  const port = Number(text(reply[1]))
  return validHost(host) && validPort(port) ? { host, port } : undefined
}

/** The master's offset in a `SENTINEL INFO-CACHE` reply (`[name, [[age-ms, info], ...]]`), if it is there. */
export function masterOffsetFromCache(reply: unknown, masterPort: number): number | undefined {
  return masterSampleFromCache(reply, masterPort)?.offset
}

/** The master's offset in a `SENTINEL INFO-CACHE` reply and how old (ms) the INFO it comes from is. */
export function masterSampleFromCache(
  reply: unknown,
  masterPort: number,
): { offset: number; ageMs: number } | undefined {
  const entries = Array.isArray(reply) && Array.isArray(reply[1]) ? (reply[1] as unknown[]) : []
  for (const entry of entries) {
    const info = parseInfo(typeof (entry as unknown[])?.[1] === 'string' ? (entry as string[])[1]! : '')
    const offset = Number(info.master_repl_offset)
    if (info.role === 'master' && Number(info.tcp_port) === masterPort && Number.isSafeInteger(offset)) {
      return { offset, ageMs: count(text((entry as unknown[])[0])) }
    }
  }
  return undefined
}

function validHost(host: string): boolean {
  return host.length > 0 && host.length <= 255 && !/[\s/]/.test(host)
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535
}

/** A non-negative count from a sentinel field; 0 when absent or not a number. */
function count(field: string | undefined): number {
  const n = Number(field ?? 0)
  return Number.isFinite(n) && n >= 0 ? n : 0
}

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
  return `staleness ~${estimate} ms > maxStalenessMs ${max}`
}

/** `info-refresh` of a replica in `SENTINEL REPLICAS`: how long ago (ms) the sentinel read its INFO (and offset). */
export function infoAgeMs(replica: ReplicaState): number {
  return count(replica.raw['info-refresh'])
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
      ...(gates.maxStalenessMs !== undefined && { stalenessMs: gates.staleness?.(r) }),
    }
  })
}

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

/** A sentinel's doubt about a replica that the replica's own INFO may lift: its link to it, or its master link. */
function momentary(reason: string | undefined): boolean {
  return reason === 'flagged disconnected' || (reason?.startsWith('master link ') ?? false)
}

/**
 * The `INFO replication` fields the role check reads, from a `ROLE` reply (for a user refused INFO).
 * @internal
 */
export function infoFromRole(reply: unknown): Record<string, string> {
  if (!Array.isArray(reply)) return {}
  const [role, ...rest] = reply.map((v) => (Array.isArray(v) ? v : text(v)))
  if (role === 'master') return { role: 'master', master_repl_offset: String(rest[0]) }
  if (role !== 'slave') return { role: String(role) }
  const [host, port, state, offset] = rest as string[]
  return {
    role: 'slave',
    master_host: String(host),
    master_port: String(port),
    master_link_status: state === 'connected' ? 'up' : 'down',
    slave_repl_offset: String(offset),
  }
}

/**
 * Why a node we connected to must not be used for `role`, judged from its `INFO` fields, or
 * `undefined` if it fits. Sentinels can be seconds behind: a "master" may already be demoted and
 * a "replica" may have lost its link since their last look.
 */
export function roleProblem(
  role: 'master' | 'replica',
  info: Record<string, string>,
  gates: Freshness = {},
): string | undefined {
  if (role === 'master') return info.role === 'master' ? undefined : `reports role ${info.role ?? 'unknown'}`
  if (info.role !== 'slave') return `reports role ${info.role ?? 'unknown'}`
  if (info.master_link_status !== 'up') {
    const seconds = Number(info.master_link_down_since_seconds ?? -1) // -1: never connected
    const downMs = seconds >= 0 ? seconds * 1000 : Number.POSITIVE_INFINITY
    if (gates.maxLinkDownMs === undefined || !(downMs <= gates.maxLinkDownMs)) {
      return `master link ${info.master_link_status ?? 'unknown'}`
    }
  }
  return undefined
}

/** A node as the sentinels name it in their events. */
export interface EventNode {
  host: string
  port: number
  address: string
}

/**
 * A sentinel event twiceredis acts on, for one master name:
 * - `switch-master`: `newMaster` is the master now (`from`: the one before);
 * - `replica-down`: a replica went subjectively down;
 * - `odown`: the master at `master` is objectively down (`on`) or no longer (`!on`);
 * - `failover`: a failover of the master at `master` started or moved on (`on`), or was aborted
 *   (`!on`); `candidate`: the replica the leader is promoting, once it chose one.
 */
export type SentinelEvent =
  | { type: 'switch-master'; master: string; newMaster: EventNode; from?: string | undefined }
  | { type: 'replica-down'; master: string; replica: string }
  | { type: 'odown'; master: string; on: boolean; node: string }
  | { type: 'failover'; master: string; on: boolean; node: string; candidate?: EventNode | undefined }

/** Failover steps of the leader whose message names the replica it promotes. */
const PROMOTING = new Set(['+selected-slave', '+failover-state-send-slaveof-noone', '+failover-state-wait-promotion'])

/**
 * Parse the sentinel pub/sub messages twiceredis acts on, for master `name`. Sentinel writes
 * `<type> <name> <ip> <port>` for a master and `<type> <ip:port> <ip> <port> @ <name> <master-ip>
 * <master-port>` for a replica (see `sentinelEvent` in Redis' sentinel.c):
 * - `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`, and the leader's
 *   `+promoted-slave` for a replica of our master (as soon as the replica it promoted reports itself
 *   master: from then on its `GET-MASTER-ADDR-BY-NAME` names it, while the other sentinels announce
 *   `+switch-master` only once its hello messages reach them, up to a hello period later);
 * - `+sdown` of a replica;
 * - `+odown` / `-odown` of the master;
 * - the failover's first words and steps: `+try-failover`, `+elected-leader`, `+failover-state-*`,
 *   `+selected-slave` (with the replica chosen), `+failover-end(-for-timeout)`, and its aborts
 *   `-failover-abort-*`.
 */
export function parseSentinelEvent(channel: string, message: string, name: string): SentinelEvent | undefined {
  const words = message.split(' ')
  const node = (host: string | undefined, port: string | undefined): EventNode | undefined => {
    const next = parseMasterAddress([host, port])
    return next ? { ...next, address: formatAddress(next.host, next.port) } : undefined
  }
  const ofMaster = words[0] === 'master' && words[1] === name
  const ofReplica = words[0] !== 'master' && words[4] === '@' && words[5] === name
  // The master a message is about: its own address, or the one after the `@`.
  const master = ofMaster ? node(words[2], words[3]) : ofReplica ? node(words[6], words[7]) : undefined
  if (channel === '+switch-master' && words[0] === name && words.length >= 5) {
    const newMaster = node(words[3], words[4])
    return newMaster && { type: 'switch-master', master: name, newMaster, from: node(words[1], words[2])?.address }
  }
  if (!master) return undefined
  if (channel === '+promoted-slave' && ofReplica && words[0] === 'slave') {
    const newMaster = node(words[2], words[3])
    return newMaster && { type: 'switch-master', master: name, newMaster, from: master.address }
  }
  if (channel === '+sdown' && ofReplica && words[0] === 'slave') {
    return { type: 'replica-down', master: name, replica: formatAddress(words[2]!, Number(words[3])) }
  }
  if ((channel === '+odown' || channel === '-odown') && ofMaster) {
    return { type: 'odown', master: name, on: channel === '+odown', node: master.address }
  }
  if (channel.startsWith('-failover-abort-')) {
    return { type: 'failover', master: name, on: false, node: master.address }
  }
  if (PROMOTING.has(channel) && ofReplica) {
    const candidate = node(words[2], words[3])
    return candidate && { type: 'failover', master: name, on: true, node: master.address, candidate }
  }
  if (channel === '+try-failover' || channel === '+elected-leader' || channel.startsWith('+failover-')) {
    // `+failover-end` is followed by the leader's `+switch-master` within a tick of its timer: the
    // failover is not over for the clients until then.
    return { type: 'failover', master: name, on: true, node: master.address }
  }
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
