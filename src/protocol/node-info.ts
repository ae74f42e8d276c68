/**
 * What a data node says about itself (`INFO`, `ROLE`): the one place that parses it, for the role
 * check (whether it fits the role it was chosen for) and for positions (where its replication is). Pure.
 */
import { text } from './reply.js'

/** Parse `INFO` text into a field map. */
export function parseInfo(info: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of info.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
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
  gates: { maxLinkDownMs?: number | undefined } = {},
): string | undefined {
  if (role === 'master') return info.role === 'master' ? undefined : `reports role ${info.role ?? 'unknown'}`
  if (info.role !== 'slave') return `reports role ${info.role ?? 'unknown'}`
  if (info.master_link_status !== 'up') {
    if (gates.maxLinkDownMs === undefined || !(linkDownMs(info) <= gates.maxLinkDownMs)) {
      return `master link ${info.master_link_status ?? 'unknown'}`
    }
  }
  return undefined
}

/** How long a replica's master link has been down, from its `INFO` (ms): 0 while up, infinite if never up or unknown. */
export function linkDownMs(info: Record<string, string>): number {
  if (info.master_link_status === 'up') return 0
  const seconds = Number(info.master_link_down_since_seconds ?? -1) // -1: never connected
  return seconds >= 0 ? seconds * 1000 : Number.POSITIVE_INFINITY
}

/**
 * The replication history a node is on (`INFO replication`): `replid`, the ID of the stream it
 * has or follows now (`master_replid`); after a failover, `replid2` (`master_replid2`), the
 * history it continued, up to (not including) offset `switchAt` (`second_repl_offset`).
 */
export interface History {
  replid: string
  replid2?: string | undefined
  switchAt?: number | undefined
}

/** A replication ID of all zeros: no history before. */
const NONE = /^0+$/

/** The history in `INFO replication` fields, if they name one (not a `ROLE`: it names none). */
export function historyOf(info: Record<string, string>): History | undefined {
  const replid = info.master_replid
  if (!replid || NONE.test(replid)) return undefined
  const replid2 = info.master_replid2
  const switchAt = Number(info.second_repl_offset)
  if (!replid2 || NONE.test(replid2) || !(switchAt > 0)) return { replid }
  return { replid, replid2, switchAt }
}

/** Where a node is: its replication offset, and the master (`host:port`) whose stream it counts. */
export interface Position {
  offset: number
  /** `undefined` for a token from another process (it names no master). */
  master: string | undefined
  /** The replication history of `offset`, when known (`INFO`, or learned for the node; a `ryw2` token). */
  history?: History | undefined
}

/** The position a `ROLE` reply gives for a node at `self` (a master names no one else). */
export function rolePosition(reply: unknown, self: string | undefined): Position | undefined {
  if (!Array.isArray(reply)) return undefined
  if (reply[0] === 'master') return position(reply[1], self)
  // A replica not connected to its master says -1: behind any floor.
  if (reply[0] === 'slave') return position(reply[4], `${text(reply[1])}:${text(reply[2])}`, -1)
  return undefined
}

/** The same from `INFO replication` (for a user who may not run ROLE). */
export function infoPosition(info: Record<string, string>, self: string | undefined): Position | undefined {
  const history = historyOf(info)
  if (info.role === 'master') return position(info.master_repl_offset, self, 0, history)
  if (info.role === 'slave') {
    return position(info.slave_repl_offset, `${info.master_host}:${info.master_port}`, 0, history)
  }
  return undefined
}

function position(offset: unknown, master: string | undefined, min = 0, history?: History): Position | undefined {
  const n = Number(text(offset) || Number.NaN)
  if (!Number.isSafeInteger(n) || n < min) return undefined
  return history ? { offset: n, master, history } : { offset: n, master }
}

/** The offset in a `ROLE` reply of a master or a replica (`undefined` for one not connected). */
export function roleOffset(reply: unknown): number | undefined {
  const offset = rolePosition(reply, undefined)?.offset
  return offset === undefined || offset < 0 ? undefined : offset
}
