// Master replaced while still up: writers on every client through a fault in which the old master
// keeps answering (a SENTINEL FAILOVER, the sentinels cut off from a live master, a master paused
// past down-after-milliseconds), with Sentinel's default INFO period (10 s). Counts the INCRs each
// client saw acknowledged against its counter on the new master: the difference was lost.
import { Redis } from 'ioredis'
import { TwiceRedis, type TwiceRedisOptions } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { nodeRedisClient, sentinelNodes, sleep, table } from './peers.js'

interface Client {
  name: string
  incr(key: string): Promise<unknown>
  close(): Promise<void>
}

type Factory = (lab: Lab) => Promise<Client>

const twice =
  (name: string, options: TwiceRedisOptions = {}): Factory =>
  async (lab) => {
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, options)
    await tr.master.ping()
    return { name, incr: (k) => tr.master.incr(k), close: () => tr.quit() }
  }

const ioredis =
  (name: string, failoverDetector: boolean): Factory =>
  async (lab) => {
    const master = new Redis({ sentinels: sentinelNodes(lab), name: lab.masterName, role: 'master', failoverDetector })
    master.on('error', () => {})
    await master.ping()
    return { name, incr: (k) => master.incr(k), close: async () => master.disconnect() }
  }

const nodeRedis: Factory = async (lab) => {
  const sentinel = nodeRedisClient(lab)
  await sentinel.connect()
  return { name: 'node-redis 6 (sentinel)', incr: (k) => sentinel.incr(k), close: async () => sentinel.destroy() }
}

const clients: Factory[] = [
  twice('twiceredis'),
  twice("twiceredis failoverDetection: 'outage'", { failoverDetection: 'outage' }),
  ioredis('ioredis (sentinel)', false),
  ioredis('ioredis failoverDetector', true),
  nodeRedis,
]

const faults = {
  'SENTINEL FAILOVER': async (lab: Lab) => {
    await lab.failover()
    return async () => {}
  },
  'sentinels cut off from a live master (6 s)': async (lab: Lab) => {
    const old = lab.master
    await lab.cutOffSentinels(old)
    return async () => {
      await sleep(6000)
      await lab.restoreSentinels(old)
    }
  },
  'master paused 4 s (SIGSTOP), then resumed': async (lab: Lab) => {
    const old = lab.master
    lab.pause(old)
    return async () => {
      await sleep(4000)
      lab.resume(old)
    }
  },
} as const

interface Tally {
  acked: number
  lost: number
  failed: number
  longestMs: number
}

/** Two loops of INCR per client, each awaiting its reply before the next. */
async function runOnce(fault: keyof typeof faults): Promise<Map<string, Tally>> {
  const lab = await startLab({ sentinelInfoPeriodMs: 10_000 })
  const opened: Client[] = []
  try {
    for (const open of clients) opened.push(await open(lab))
    let running = true
    const tallies = new Map<string, Tally>()
    const loops = opened.flatMap((client, i) => {
      const tally: Tally = { acked: 0, lost: 0, failed: 0, longestMs: 0 }
      tallies.set(client.name, tally)
      return [0, 1].map(async () => {
        while (running) {
          const started = performance.now()
          try {
            await client.incr(`counter:${i}`)
            tally.acked++
          } catch {
            tally.failed++
          }
          tally.longestMs = Math.max(tally.longestMs, performance.now() - started)
        }
      })
    })
    await sleep(1000)
    const after = await faults[fault](lab)
    const master = await lab.waitForNewMaster(30_000)
    await after()
    await sleep(1000)
    running = false
    await Promise.race([Promise.all(loops), sleep(10_000)])
    for (const [i, client] of opened.entries()) {
      const tally = tallies.get(client.name)!
      const final = Number(await lab.command(master, 'GET', `counter:${i}`))
      tally.lost = Math.max(0, tally.acked - final)
    }
    return tallies
  } finally {
    await Promise.all(opened.map((c) => c.close().catch(() => {})))
    for (const node of lab.dataNodes) {
      try {
        lab.resume(node)
      } catch {}
    }
    await lab.stop()
  }
}

/** Sentinel connections held at rest by one process of `instances` TwiceRedis, per mode. */
async function atRest(instances: number): Promise<string> {
  const lab = await startLab()
  try {
    const rows: (string | number)[][] = []
    for (const failoverDetection of ['always', 'outage'] as const) {
      const all = Array.from(
        { length: instances },
        () => new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, { failoverDetection }),
      )
      await Promise.all(all.flatMap((tr) => [tr.master.ping(), tr.slave.ping()]))
      await sleep(200)
      let held = 0
      for (const s of lab.sentinels) held += await lab.clientConnections(s)
      rows.push([`twiceredis, failoverDetection '${failoverDetection}'`, instances, held])
      await Promise.all(all.map((tr) => tr.quit()))
      await sleep(200)
    }
    return table(['client', 'instances in the process', 'sentinel connections at rest (3 sentinels)'], rows)
  } finally {
    await lab.stop()
  }
}

export async function switchoverBench(runs: number): Promise<string> {
  const rows: (string | number)[][] = []
  for (const fault of Object.keys(faults) as (keyof typeof faults)[]) {
    const results: Map<string, Tally>[] = []
    for (let r = 0; r < runs; r++) {
      process.stderr.write(`   ${fault}, run ${r + 1}\n`)
      results.push(await runOnce(fault))
    }
    for (const name of results[0]!.keys()) {
      const all = results.map((m) => m.get(name)!)
      const sum = (f: (t: Tally) => number) => all.reduce((a, t) => a + f(t), 0)
      const lostRuns = all.filter((t) => t.lost > 0).length
      const stalls = all.map((t) => Math.round(t.longestMs))
      rows.push([
        fault,
        name,
        sum((t) => t.acked).toLocaleString('en'),
        `${sum((t) => t.lost).toLocaleString('en')} (${lostRuns} of ${runs} runs)`,
        sum((t) => t.failed),
        `${Math.min(...stalls)}-${Math.max(...stalls)}`,
      ])
    }
  }
  return `${table(
    ['fault', 'client', `acknowledged (${runs} runs)`, 'lost', 'failed', 'longest write stall, ms (min-max of runs)'],
    rows,
  )}

${await atRest(50)}

All clients write in the same lab and the same fault (2 loops of \`INCR\` each, each awaiting its reply), with Sentinel's
default \`info-period\` (10 s: a replaced master is demoted only at the sentinels' next \`INFO\` of it);
"lost" = acknowledged \`INCR\`s missing from the client's counter on the new master at the end.
`
}
