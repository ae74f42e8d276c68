// Sentinel load: N client instances of each kind, idle after one command (connections they hold
// on the sentinels); then every client connection on the data nodes is killed at once
// (`CLIENT KILL TYPE normal`, as a network blip would), all reconnect by themselves, and we count
// the connections that storm opens on the sentinels and the busiest sentinel's share of them.
import { TwiceRedis } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { ioredisPair, nodeRedisClient, sleep, table } from './peers.js'

interface Instance {
  command(): Promise<unknown>
  close(): Promise<void>
}

const kinds: Record<string, (lab: Lab) => Instance> = {
  twiceredis: (lab) => {
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
    return { command: () => Promise.all([tr.master.set('k', 'v'), tr.slave.get('k')]), close: () => tr.quit() }
  },
  'ioredis (sentinel)': (lab) => {
    const { master, replica, close } = ioredisPair(lab)
    return { command: () => Promise.all([master.set('k', 'v'), replica.get('k')]), close: async () => close() }
  },
  'node-redis (sentinel)': (lab) => {
    const sentinel = nodeRedisClient(lab)
    const ready = sentinel.connect()
    return {
      command: async () => {
        await ready
        return Promise.all([sentinel.set('k', 'v'), sentinel.get('k')])
      },
      close: async () => {
        sentinel.destroy()
      },
    }
  },
}

async function received(lab: Lab): Promise<number[]> {
  return Promise.all(lab.sentinels.map((s) => lab.connectionsReceived(s)))
}

export async function sentinelLoadBench(count = 200): Promise<string> {
  const lab = await startLab()
  const rows: (string | number)[][] = []
  try {
    for (const [name, make] of Object.entries(kinds)) {
      process.stderr.write(`sentinel load: ${count} x ${name}\n`)
      const instances = Array.from({ length: count }, () => make(lab))
      await Promise.all(instances.map((i) => i.command()))
      await sleep(200)
      let held = 0
      for (const s of lab.sentinels) held += await lab.clientConnections(s)
      const before = await received(lab)
      for (const node of lab.dataNodes) await lab.command(node, 'CLIENT', 'KILL', 'TYPE', 'normal')
      await sleep(100)
      // Clients that reconnect by themselves have; one command each makes sure of it.
      await Promise.all(instances.map((i) => i.command().catch(() => {})))
      const after = await received(lab)
      // Each `received` call opens one connection per sentinel itself.
      const opened = after.map((a, i) => a - before[i]! - 1)
      const total = opened.reduce((a, b) => a + b, 0)
      const busiest = total ? Math.max(...opened) / total : 0
      rows.push([name, held, total, `${Math.round(busiest * 100)}% (even: ${Math.round(100 / lab.sentinels.length)}%)`])
      await Promise.all(instances.map((i) => i.close()))
      await sleep(300)
    }
  } finally {
    await lab.stop()
  }
  return table(
    [
      'client',
      `sentinel connections held by ${count} idle instances`,
      `opened when all ${count} reconnect at once`,
      'busiest sentinel share',
    ],
    rows,
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await sentinelLoadBench(Number(process.argv[2] ?? 200)))
}
