// Cold start and reconnect: time from creating a client to its first reply (a read through
// the replica side where there is one), and from disconnect() to the next reply.
import { Redis } from 'ioredis'
import { createSentinel } from 'redis'
import { TwiceRedis } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { median, sentinelNodes, shuffled, table } from './peers.js'

type Trial = (lab: Lab) => Promise<{ first: number; reconnect?: number }>

const time = async (f: () => Promise<unknown>) => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

const trials: Record<string, Trial> = {
  twiceredis: async (lab) => {
    let tr!: TwiceRedis
    const first = await time(() => {
      tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
      return tr.slave.get('k')
    })
    tr.slave.disconnect()
    const reconnect = await time(() => tr.slave.get('k'))
    await tr.quit()
    return { first, reconnect }
  },
  'ioredis (sentinel)': async (lab) => {
    let r!: Redis
    const sentinels = sentinelNodes(lab)
    const first = await time(() => {
      r = new Redis({ sentinels, name: lab.masterName, role: 'slave' })
      return r.get('k')
    })
    r.disconnect()
    await new Promise((resolve) => r.once('end', resolve))
    const reconnect = await time(async () => {
      await r.connect() // ioredis needs an explicit connect() after disconnect()
      return r.get('k')
    })
    r.disconnect()
    return { first, reconnect }
  },
  'node-redis (sentinel)': async (lab) => {
    let s!: ReturnType<typeof createSentinel>
    const first = await time(async () => {
      s = createSentinel({
        name: lab.masterName,
        sentinelRootNodes: sentinelNodes(lab),
        replicaPoolSize: 1,
      })
      s.on('error', () => {})
      await s.connect()
      return s.get('k')
    })
    s.destroy()
    return { first }
  },
  'ioredis (plain, no sentinel)': async (lab) => {
    let r!: Redis
    const first = await time(() => {
      r = new Redis({ host: lab.replicas[0]!.host, port: lab.replicas[0]!.port })
      return r.get('k')
    })
    r.disconnect()
    return { first }
  },
}

export async function coldStartBench(repeat = 20): Promise<string> {
  const lab = await startLab()
  const results = new Map<string, { first: number[]; reconnect: number[] }>()
  try {
    for (let i = 0; i < repeat; i++) {
      if (i % 5 === 0) process.stderr.write(`cold start: ${i}/${repeat}\n`)
      for (const [name, trial] of shuffled(Object.entries(trials))) {
        const r = await trial(lab)
        const entry = results.get(name) ?? { first: [], reconnect: [] }
        entry.first.push(r.first)
        if (r.reconnect !== undefined) entry.reconnect.push(r.reconnect)
        results.set(name, entry)
      }
    }
  } finally {
    await lab.stop()
  }
  const ms = (v: number[]) => (v.length ? `${median(v).toFixed(1)} ms` : 'n/a')
  return table(
    ['client', 'new client to first reply (median)', 'disconnect() to next reply (median)'],
    Object.keys(trials).map((name) => [name, ms(results.get(name)!.first), ms(results.get(name)!.reconnect)]),
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await coldStartBench(Number(process.argv[2] ?? 20)))
}
