// Read after write: sequential write-then-read pairs (SET on the write side, then GET of the same
// key on the read side), with reads from replicas as they are (`eventual`), with
// `consistency: 'session'`, and with reads from the master; pairs per second, latency of a pair,
// how many reads missed the write just made, and the share of reads a replica served. Then what
// 'session' costs where it has nothing to check: read-only traffic (GET, 50 in flight) and
// write-only traffic (SET, 50 in flight); and reads while 4 tasks write (median read latency,
// share served by a replica). Beside the pairs, the floor of any offset check: plain ioredis
// pairs to the same two nodes with one command more on each side (PING, or the ROLE a check
// needs), against plain SET then GET. Interleaved by round. Figures are ratios side by side in one run
// on one noisy 2-core machine (shared with other labs): compare rows, not runs.
import { Redis } from 'ioredis'
import { TwiceRedis, type TwiceRedisOptions } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { median, shuffled, table } from './peers.js'

interface Contender {
  name: string
  tr: TwiceRedis
  read: (key: string) => Promise<string | null>
  /** Reads the gate sent to the master instead of the replica (`read-from-master`). */
  moved: number
  /** Reads that went to a replica at all (the master reads none). */
  onReplica: boolean
}

function contenders(lab: Lab): Contender[] {
  const open = (options: TwiceRedisOptions = {}) =>
    new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, options)
  const eventual = open()
  const session = open({ consistency: 'session' })
  const master = open()
  const all: Contender[] = [
    {
      name: "consistency: 'eventual' (default)",
      tr: eventual,
      read: (k) => eventual.slave.get(k),
      moved: 0,
      onReplica: true,
    },
    { name: "consistency: 'session'", tr: session, read: (k) => session.slave.get(k), moved: 0, onReplica: true },
    { name: 'reads from the master', tr: master, read: (k) => master.master.get(k), moved: 0, onReplica: false },
  ]
  for (const c of all) c.tr.on('read-from-master', () => c.moved++)
  return all
}

interface Pairs {
  perSecond: number
  latencies: number[]
  stale: number
  moved: number
}

async function pairs(c: Contender, ms: number): Promise<Pairs> {
  const key = `raw:${c.name}`
  const latencies: number[] = []
  let stale = 0
  const moved = c.moved
  const end = performance.now() + ms
  for (let i = 0; performance.now() < end; i++) {
    const started = performance.now()
    await c.tr.master.set(key, String(i))
    if ((await c.read(key)) !== String(i)) stale++
    latencies.push(performance.now() - started)
  }
  return { perSecond: (latencies.length / ms) * 1000, latencies, stale, moved: c.moved - moved }
}

/** Plain ioredis pairs on the master and one replica: what one command more on each side costs. */
function floors(master: Redis, replica: Redis): [string, (i: number) => Promise<unknown>][] {
  return [
    [
      'ioredis: SET, then GET',
      async (i) => {
        await master.set('raw:floor', String(i))
        await replica.get('raw:floor')
      },
    ],
    [
      'ioredis: SET + PING, then PING + GET (one command more a side)',
      async (i) => {
        await master.pipeline().set('raw:floor', String(i)).ping().exec()
        await replica.pipeline().ping().get('raw:floor').exec()
      },
    ],
    [
      'ioredis: SET + ROLE, then ROLE + GET (the offsets a check reads)',
      async (i) => {
        await master.pipeline().set('raw:floor', String(i)).role().exec()
        await replica.pipeline().role().get('raw:floor').exec()
      },
    ],
  ]
}

/** Sequential `pair`s for `ms`: pairs per second. */
async function pairsOf(pair: (i: number) => Promise<unknown>, ms: number): Promise<number> {
  const end = performance.now() + ms
  let i = 0
  while (performance.now() < end) await pair(i++)
  return (i / ms) * 1000
}

/** `op` with 50 in flight for `ms`: operations per second. */
async function flood(ms: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + ms
  let done = 0
  const worker = async () => {
    while (performance.now() < end) {
      await op()
      done++
    }
  }
  await Promise.all(Array.from({ length: 50 }, worker))
  return (done / ms) * 1000
}

/** GET on the read side with 50 in flight, after one write (so `session` has a floor to check). */
async function readOnly(c: Contender, ms: number): Promise<number> {
  await c.tr.master.set('raw:read-only', 'v')
  await c.read('raw:read-only')
  return flood(ms, () => c.read('raw:read-only'))
}

/** SET on the write side with 50 in flight, nothing read. */
function writeOnly(c: Contender, ms: number): Promise<number> {
  let i = 0
  return flood(ms, () => c.tr.master.set(`raw:write-only:${i % 100}`, String(i++)))
}

interface UnderWrites {
  latencies: number[]
  moved: number
}

/** Sequential GETs on the read side while 4 tasks write (each SET awaited) on the write side. */
async function readsUnderWrites(c: Contender, ms: number): Promise<UnderWrites> {
  let running = true
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; running; i++) await c.tr.master.set(`raw:writer:${w}`, String(i))
  })
  const latencies: number[] = []
  const moved = c.moved
  const end = performance.now() + ms
  while (performance.now() < end) {
    const started = performance.now()
    await c.read('raw:writer:0')
    latencies.push(performance.now() - started)
  }
  running = false
  await Promise.all(writers)
  return { latencies, moved: c.moved - moved }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
const share = (c: Contender, moved: number, total: number) =>
  c.onReplica ? `${(100 * (1 - moved / total)).toFixed(1)} %` : '0 %'

export async function readAfterWriteBench(rounds = 3, ms = 1000): Promise<string> {
  const lab = await startLab()
  const all = contenders(lab)
  const [eventual, session] = all as [Contender, Contender, Contender]
  await session.read('raw:connect')
  const node = (address: string) => {
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ]
    return new Redis({ host, port })
  }
  const plain = [node(lab.master.address), node(session.tr.slave.node!.address)] as const
  const floorPairs = floors(...plain)
  try {
    const floorRuns = new Map<string, number[]>()
    const runs = new Map<string, Pairs[]>()
    const reads = new Map<string, number[]>()
    const writes = new Map<string, number[]>()
    const loaded = new Map<string, UnderWrites[]>()
    const add = <T>(m: Map<string, T[]>, name: string, v: T) => m.set(name, [...(m.get(name) ?? []), v])
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`read after write: round ${round}/${rounds}\n`)
      for (const c of shuffled(all)) add(runs, c.name, await pairs(c, ms))
      for (const [name, pair] of shuffled(floorPairs)) add(floorRuns, name, await pairsOf(pair, ms))
      // A B B A: drift of the machine within a round weighs on both alike (a few % is the goal).
      const abba = (order: Contender[]) => [...order, ...order.slice().reverse()]
      for (const c of abba(shuffled([eventual, session]))) add(reads, c.name, await readOnly(c, ms / 2))
      for (const c of abba(shuffled([eventual, session]))) add(writes, c.name, await writeOnly(c, ms / 2))
      for (const c of shuffled(all)) add(loaded, c.name, await readsUnderWrites(c, ms))
    }
    const rate = (name: string) => median(runs.get(name)!.map((r) => r.perSecond))
    const rows = all.map((c) => {
      const latencies = runs
        .get(c.name)!
        .flatMap((r) => r.latencies)
        .sort((a, b) => a - b)
      const stale = runs.get(c.name)!.reduce((n, r) => n + r.stale, 0)
      const moved = runs.get(c.name)!.reduce((n, r) => n + r.moved, 0)
      const total = latencies.length
      return [
        c.name,
        `${Math.round(rate(c.name))}/s`,
        (rate(c.name) / rate(eventual.name)).toFixed(2),
        `${percentile(latencies, 0.5).toFixed(3)} ms`,
        `${percentile(latencies, 0.99).toFixed(3)} ms`,
        `${stale} of ${total}`,
        share(c, moved, total),
      ]
    })
    const flat = (m: Map<string, number[]>, name: string) => median(m.get(name)!)
    const base = flat(floorRuns, floorPairs[0]![0])
    const floorRows = floorPairs.map(([name]) => [
      name,
      `${Math.round(flat(floorRuns, name))}/s`,
      (flat(floorRuns, name) / base).toFixed(2),
    ])
    const sideBySide = (m: Map<string, number[]>) =>
      [eventual, session].map((c) => [
        c.name,
        `${Math.round(flat(m, c.name) / 1000)}k/s`,
        (flat(m, c.name) / flat(m, eventual.name)).toFixed(2),
      ])
    const readP50 = (name: string) =>
      percentile(
        loaded
          .get(name)!
          .flatMap((r) => r.latencies)
          .sort((a, b) => a - b),
        0.5,
      )
    const loadedRows = all.map((c) => {
      const total = loaded.get(c.name)!.reduce((n, r) => n + r.latencies.length, 0)
      const moved = loaded.get(c.name)!.reduce((n, r) => n + r.moved, 0)
      return [
        c.name,
        `${readP50(c.name).toFixed(3)} ms`,
        (readP50(c.name) / readP50(eventual.name)).toFixed(2),
        String(total),
        share(c, moved, total),
      ]
    })
    return `${table(['reads', 'pairs/s (median)', 'ratio to eventual', 'pair p50', 'pair p99', 'stale reads', 'served by a replica'], rows)}

${table(['the floor: plain ioredis pairs, same nodes', 'pairs/s (median)', 'ratio to SET, then GET'], floorRows)}

${table(['read-only traffic (GET, 50 in flight)', 'reads/s (median)', 'ratio to eventual'], sideBySide(reads))}

${table(['write-only traffic (SET, 50 in flight)', 'writes/s (median)', 'ratio to eventual'], sideBySide(writes))}

${table(['sequential reads while 4 tasks write', 'read p50', 'ratio to eventual', 'reads', 'served by a replica'], loadedRows)}

Ratios side by side in one run on one noisy 2-core machine (other labs run beside it).`
  } finally {
    await Promise.all(all.map((c) => c.tr.quit()))
    for (const client of plain) client.disconnect()
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await readAfterWriteBench(Number(process.argv[2] ?? 3)))
}
