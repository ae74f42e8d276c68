/** What a data node says about itself (`INFO`, `ROLE`) and whether that fits the role it was chosen for. Pure. */
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
    const seconds = Number(info.master_link_down_since_seconds ?? -1) // -1: never connected
    const downMs = seconds >= 0 ? seconds * 1000 : Number.POSITIVE_INFINITY
    if (gates.maxLinkDownMs === undefined || !(downMs <= gates.maxLinkDownMs)) {
      return `master link ${info.master_link_status ?? 'unknown'}`
    }
  }
  return undefined
}
