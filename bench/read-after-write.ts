// Read after write: sequential write-then-read pairs (SET on the write side, then GET of the same
// key on the read side), with reads from replicas as they are (`eventual`), with
// `consistency: 'session'`, and with reads from the master; pairs per second, latency of a pair,
// and how many reads missed the write just made. Then read-only traffic (GET, 50 in flight) with
// and without `session`: what the check costs when nothing was written. Interleaved by round.
import { TwiceRedis, type TwiceRedisOptions } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { median, shuffled, table } from './peers.js'

interface Contender {
  name: string
  tr: TwiceRedis
  read: (key: string) => Promise<string | null>
}

function contenders(lab: Lab): Contender[] {
  const open = (options: TwiceRedisOptions = {}) =>
    new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, options)
  const eventual = open()
  const session = open({ consistency: 'session' })
  const master = open()
  return [
    { name: "consistency: 'eventual' (default)", tr: eventual, read: (k) => eventual.slave.get(k) },
    { name: "consistency: 'session'", tr: session, read: (k) => session.slave.get(k) },
    { name: 'reads from the master', tr: master, read: (k) => master.master.get(k) },
  ]
}

interface Pairs {
  perSecond: number
  latencies: number[]
  stale: number
}

async function pairs(c: Contender, ms: number): Promise<Pairs> {
  const key = `raw:${c.name}`
  const latencies: number[] = []
  let stale = 0
  const end = performance.now() + ms
  for (let i = 0; performance.now() < end; i++) {
    const started = performance.now()
    await c.tr.master.set(key, String(i))
    if ((await c.read(key)) !== String(i)) stale++
    latencies.push(performance.now() - started)
  }
  return { perSecond: (latencies.length / ms) * 1000, latencies, stale }
}

/** GET on the read side with 50 in flight, after one write (so `session` has a floor to check). */
async function readOnly(c: Contender, ms: number): Promise<number> {
  await c.tr.master.set('raw:read-only', 'v')
  await c.read('raw:read-only')
  const end = performance.now() + ms
  let done = 0
  const worker = async () => {
    while (performance.now() < end) {
      await c.read('raw:read-only')
      done++
    }
  }
  await Promise.all(Array.from({ length: 50 }, worker))
  return (done / ms) * 1000
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

export async function readAfterWriteBench(rounds = 3, ms = 1000): Promise<string> {
  const lab = await startLab()
  const all = contenders(lab)
  try {
    const runs = new Map<string, Pairs[]>()
    const reads = new Map<string, number[]>()
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`read after write: round ${round}/${rounds}\n`)
      for (const c of shuffled(all)) runs.set(c.name, [...(runs.get(c.name) ?? []), await pairs(c, ms)])
      for (const c of shuffled(all.slice(0, 2)))
        reads.set(c.name, [...(reads.get(c.name) ?? []), await readOnly(c, ms)])
    }
    const rate = (name: string) => median(runs.get(name)!.map((r) => r.perSecond))
    const eventual = all[0]!.name
    const rows = all.map(({ name }) => {
      const latencies = runs
        .get(name)!
        .flatMap((r) => r.latencies)
        .sort((a, b) => a - b)
      const stale = runs.get(name)!.reduce((n, r) => n + r.stale, 0)
      const total = latencies.length
      return [
        name,
        `${Math.round(rate(name))}/s`,
        (rate(name) / rate(eventual)).toFixed(2),
        `${percentile(latencies, 0.5).toFixed(3)} ms`,
        `${percentile(latencies, 0.99).toFixed(3)} ms`,
        `${stale} of ${total}`,
      ]
    })
    const readRate = (name: string) => median(reads.get(name)!)
    const session = all[1]!.name
    return `${table(['reads', 'pairs/s (median)', 'ratio to eventual', 'pair p50', 'pair p99', 'stale reads'], rows)}

| read-only traffic (GET, 50 in flight) | reads/s (median) | ratio to eventual |
| --- | --- | --- |
| ${eventual} | ${Math.round(readRate(eventual) / 1000)}k/s | 1.00 |
| ${session} | ${Math.round(readRate(session) / 1000)}k/s | ${(readRate(session) / readRate(eventual)).toFixed(2)} |`
  } finally {
    await Promise.all(all.map((c) => c.tr.quit()))
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await readAfterWriteBench(Number(process.argv[2] ?? 3)))
}
