// Optimistic locking through connection drops: 8 workers per client increment one counter with
// WATCH, GET, MULTI, SET value+1, EXEC (retrying on a null EXEC or an error) while the master's
// client connections are killed every 50-250 ms (`CLIENT KILL`, a network blip for every client;
// the sentinels' own connections are spared, or they would fail the master over). Every EXEC the client reported applied must be in the counter: each one it reported
// and the counter does not show is an update lost (a transaction that ran without its WATCH, on
// the connection after the one that held it).
import { Redis } from 'ioredis'
import { createSentinel } from 'redis'
import { TwiceRedis } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { sentinelNodes, sleep, table } from './peers.js'

const WORKERS = 8
const KEY = 'bench:counter'

interface Worker {
  /** One attempt: `true` if the client reported the EXEC applied, `false` if aborted. */
  attempt(): Promise<boolean>
}

interface Client {
  name: string
  workers: Worker[]
  close(): Promise<void>
}

type Factory = (lab: Lab) => Promise<Client>

/** An ioredis-shaped connection (a TwiceRedis write side or an ioredis client) as a worker. */
const ioredisWorker = (redis: Redis): Worker => ({
  async attempt() {
    await redis.watch(KEY)
    const value = Number(await redis.get(KEY))
    const replies = await redis
      .multi()
      .set(KEY, value + 1)
      .exec()
    if (replies === null) return false
    if (replies[0]?.[0]) throw replies[0][0]
    return true
  },
})

const twice: Factory = async (lab) => {
  const clients = Array.from({ length: WORKERS }, () => new TwiceRedis(lab.masterName, lab.sentinelAddresses))
  return {
    name: 'twiceredis',
    workers: clients.map((tr) => ioredisWorker(tr.master)),
    close: async () => void (await Promise.all(clients.map((tr) => tr.quit()))),
  }
}

const ioredis: Factory = async (lab) => {
  const clients = Array.from({ length: WORKERS }, () => {
    const redis = new Redis({ sentinels: sentinelNodes(lab), name: lab.masterName })
    redis.on('error', () => {})
    return redis
  })
  return {
    name: 'ioredis (sentinel)',
    workers: clients.map(ioredisWorker),
    close: async () => {
      for (const c of clients) c.disconnect()
    },
  }
}

const nodeRedis: Factory = async (lab) => {
  // One master connection per worker, as the other clients have (its pool holds 1 by default).
  const sentinel = createSentinel({
    name: lab.masterName,
    sentinelRootNodes: sentinelNodes(lab),
    masterPoolSize: WORKERS,
  })
  sentinel.on('error', () => {})
  await sentinel.connect()
  const worker: Worker = {
    async attempt() {
      const lease = await sentinel.acquire()
      try {
        await lease.watch(KEY)
        const value = Number(await lease.get(KEY))
        await lease
          .multi()
          .set(KEY, String(value + 1))
          .exec()
        return true
      } catch (error) {
        if ((error as Error).name === 'WatchError') return false
        throw error
      } finally {
        lease.release()
      }
    },
  }
  return {
    name: 'node-redis 6 (sentinel)',
    workers: Array.from({ length: WORKERS }, () => worker),
    close: async () => sentinel.destroy(),
  }
}

/** Drop every client connection of the master but the sentinels' (they would fail it over). */
async function killClients(lab: Lab): Promise<void> {
  const list = String(await lab.command(lab.master, 'CLIENT', 'LIST', 'TYPE', 'normal'))
  const ids = [...list.matchAll(/^id=(\d+) .*? name=(\S*)/gm)].filter(([, , name]) => !name!.startsWith('sentinel-'))
  await Promise.all(ids.map(([, id]) => lab.command(lab.master, 'CLIENT', 'KILL', 'ID', id!).catch(() => {})))
}

async function run(factory: Factory, seconds: number) {
  const lab = await startLab()
  try {
    const client = await factory(lab)
    let applied = 0
    let aborted = 0
    let errors = 0
    let running = true
    await lab.command(lab.master, 'SET', KEY, '0')
    const loops = client.workers.map(async (worker) => {
      while (running) {
        try {
          if (await worker.attempt()) applied++
          else aborted++
        } catch {
          errors++
          await sleep(5)
        }
      }
    })
    const end = Date.now() + seconds * 1000
    while (Date.now() < end) {
      await sleep(50 + Math.random() * 200)
      await killClients(lab)
    }
    running = false
    await Promise.all(loops)
    const master = await lab.waitForMaster()
    const counter = Number(await lab.command(master, 'GET', KEY))
    await client.close()
    return { name: client.name, applied, counter, lost: Math.max(0, applied - counter), aborted, errors }
  } finally {
    await lab.stop()
  }
}

export async function optimisticLockBench(seconds: number): Promise<string> {
  const rows: (string | number)[][] = []
  for (const factory of [twice, ioredis, nodeRedis]) {
    const r = await run(factory, seconds)
    const share = r.applied ? `${((100 * r.lost) / r.applied).toFixed(1)} %` : '-'
    rows.push([r.name, r.applied, r.counter, `**${r.lost}** (${share})`, r.aborted, r.errors])
  }
  return `${WORKERS} workers, ${seconds} s of \`CLIENT KILL\` of every client connection of the master (the
sentinels' aside) every 50-250 ms.
"Reported applied": EXECs the client answered as run; "lost": reported applied but not in the
counter (the transaction ran without its WATCH); "in the counter" above "reported applied" is
EXECs that ran while their reply was lost with the connection (aborted, or an error, to the caller).

${table(['client', 'reported applied', 'in the counter', 'lost updates', 'aborted (retried)', 'errors (retried)'], rows)}
`
}
