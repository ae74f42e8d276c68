/** Parsing what a sentinel answers to `SENTINEL` commands. Pure. */
import { formatAddress } from './address.js'
import { parseInfo } from './node-info.js'
import { pairs, text } from './reply.js'

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

/** `info-refresh` of a replica in `SENTINEL REPLICAS`: how long ago (ms) the sentinel read its INFO (and offset). */
export function infoAgeMs(replica: ReplicaState): number {
  return count(replica.raw['info-refresh'])
}

/** The `config-epoch` in a `SENTINEL MASTER <name>` reply; `undefined` if absent or not a count. */
export function configEpoch(reply: unknown): number | undefined {
  const field = pairs(reply)['config-epoch']
  const epoch = Number(field)
  return field !== undefined && field !== '' && Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : undefined
}

/**
 * What a `SENTINEL MASTER <name>` reply says of a failover: the master's address, whether this
 * sentinel sees it objectively down (`o_down` in `flags`), and whether it is failing it over
 * (`failover_in_progress`: set on the sentinel that tries or leads one, from `+try-failover` to
 * its end; the others learn of a failover only from its result). `undefined` without an address.
 */
export function masterFailoverState(
  reply: unknown,
): { host: string; port: number; odown: boolean; failover: boolean } | undefined {
  const fields = pairs(reply)
  const address = parseMasterAddress([fields.ip, fields.port])
  if (!address) return undefined
  const flags = (fields.flags ?? '').split(',')
  return { ...address, odown: flags.includes('o_down'), failover: flags.includes('failover_in_progress') }
}
