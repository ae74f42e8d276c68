import { type Lab, type LabNode, type LabOptions, startLab } from '../../src/lab/index.js'
import { parseInfo } from '../../src/topology.js'

/** Start a lab for one test file; `after(() => lab.stop())` must follow. */
export function lab(options?: LabOptions): Promise<Lab> {
  return startLab(options)
}

/** Connections a sentinel holds from anyone but other sentinels and this very query. */
export async function foreignConnections(lab: Lab, sentinel: LabNode): Promise<number> {
  const list = String(await lab.command(sentinel, 'CLIENT', 'LIST'))
  return list
    .split('\n')
    .filter(Boolean)
    .map((line) => Object.fromEntries(line.split(' ').map((kv) => kv.split('=') as [string, string])))
    .filter((c) => !c.name?.startsWith('sentinel-') && c.cmd !== 'client|list').length
}

/** Ask the node itself for its role (what INFO replication says). */
export async function roleOf(lab: Lab, address: string): Promise<string | undefined> {
  const node = lab.node(address)
  if (!node) return undefined
  return parseInfo(String(await lab.command(node, 'INFO', 'replication'))).role
}

/** Connections every sentinel has accepted so far (INFO stats), this query's own included. */
export async function sentinelConnectionsReceived(lab: Lab): Promise<number> {
  let total = 0
  for (const s of lab.sentinels) {
    total += Number(parseInfo(String(await lab.command(s, 'INFO', 'stats'))).total_connections_received)
  }
  return total
}
