import { after, before } from 'node:test'
import { Redis } from 'ioredis'
import { TwiceRedis, type TwiceRedisConfig, type TwiceRedisOptions } from '../../src/index.js'
import { type Lab, type LabOptions, startLab } from '../../src/lab/index.js'
import { parseInfo } from '../../src/protocol/node-info.js'

/** Start a lab for one test file; `after(() => lab.stop())` must follow. */
export function lab(options?: LabOptions): Promise<Lab> {
  return startLab(options)
}

/** Ask the node itself for its role (what INFO replication says). */
export async function roleOf(lab: Lab, address: string): Promise<string | undefined> {
  const node = lab.node(address)
  if (!node) return undefined
  return parseInfo(String(await lab.command(node, 'INFO', 'replication'))).role
}

/** Connections all sentinels have accepted so far, these queries' own included. */
export async function sentinelConnectionsReceived(lab: Lab): Promise<number> {
  let total = 0
  for (const s of lab.sentinels) total += await lab.connectionsReceived(s)
  return total
}

/**
 * A lab for one test, and `open()` for TwiceRedis clients on it; every client is quit and the lab
 * stopped afterwards, also when the test fails.
 */
export async function withLab(
  test: (lab: Lab, open: (options?: TwiceRedisOptions) => TwiceRedis) => Promise<void>,
  labOptions?: LabOptions,
): Promise<void> {
  const lab = await startLab(labOptions)
  const clients: TwiceRedis[] = []
  try {
    await test(lab, (options = {}) => {
      const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, options)
      clients.push(tr)
      return tr
    })
  } finally {
    await Promise.all(clients.map((tr) => tr.quit()))
    await lab.stop()
  }
}

/**
 * One lab for a whole test file (its `before`/`after` hooks are registered here) and `open()`
 * for TwiceRedis clients on it (`name` and `sentinels` default to the lab's); every client is
 * quit and the lab stopped after the file, also when a test fails.
 */
export function labPerFile(labOptions?: LabOptions, setup?: (lab: Lab) => Promise<void>) {
  let current: Lab | undefined
  const clients: TwiceRedis[] = []
  before(async () => {
    current = await startLab(labOptions)
    await setup?.(current)
  })
  after(async () => {
    await Promise.all(clients.map((tr) => tr.quit()))
    await current?.stop()
  })
  return {
    get lab(): Lab {
      if (!current) throw new Error('the lab starts in before(): use it inside a test')
      return current
    },
    open(options: Partial<TwiceRedisConfig> = {}): TwiceRedis {
      const lab = this.lab
      const tr = new TwiceRedis({ name: lab.masterName, sentinels: lab.sentinelAddresses, ...options })
      clients.push(tr)
      return tr
    },
  }
}

/** Close the connection `tr.master` holds (its `CLIENT ID`, or `id`) from the server's side: a network blip. */
export async function cut(tr: TwiceRedis, id?: number): Promise<void> {
  id ??= await tr.master.client('ID')
  const node = tr.master.node
  if (!node) throw new Error('tr.master is not connected: nothing to cut')
  const admin = new Redis(node.port, node.host)
  try {
    await admin.client('KILL', 'ID', String(id))
  } finally {
    admin.disconnect()
  }
}
