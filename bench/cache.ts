// clientCache (issue 29) against plain ioredis on the same replica, and against tr.slave without it.
// 1. Hot key: GET of one key, 50 in flight, commands per second (rounds interleaved, medians, and the
//    ratio to plain ioredis measured beside it each round).
// 2. A 90/10 read/write mix over 10,000 keys, 50 in flight: reads on tr.slave, writes on another
//    connection to the master (each acknowledged by the replica, WAIT 1). Throughput, hit rate, and
//    stale reads by the bench's own checker: a read that began after a write of its key was
//    acknowledged by the replica must return that write or a later one (an uncached read would);
//    counted apart, those in the very event-loop turn that read the acknowledgement (the replica
//    sent the invalidation before its ack, on another socket: Node may read that socket later in
//    the same turn).
// Alone: `npx tsx bench/cache.ts [rounds]` (after `npm run build`: it runs dist/ through 'twiceredis').
import { Redis } from 'ioredis'
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'
import { median, table } from './peers.js'

const rounds = Number(process.argv[2] ?? 5)
const DEPTH = 50

/** Commands per second and µs of this process' CPU per command: `n` calls of `send`, `DEPTH` in flight. */
async function rate(send: () => Promise<unknown>, n: number): Promise<[number, number]> {
  let left = n
  const worker = async () => {
    while (left-- > 0) await send()
  }
  const start = performance.now()
  const cpu = process.cpuUsage()
  await Promise.all(Array.from({ length: DEPTH }, worker))
  const used = process.cpuUsage(cpu)
  return [n / ((performance.now() - start) / 1000), (used.user + used.system) / n]
}

interface Mix {
  opsPerSec: number
  hitRate: number
  reads: number
  stale: number
  /** Of `stale`: in the event-loop turn that read the write's acknowledgement (see the README). */
  sameTurn: number
  /** µs of this process' CPU per operation (reads and writes). */
  cpuPerOp: number
}

/** The 90/10 mix for `durationMs` on `tr` (writes through `writer`, versions per key checked). */
async function mix(tr: TwiceRedis, writer: Redis, durationMs: number): Promise<Mix> {
  const KEYS = 10_000
  const acknowledged = new Int32Array(KEYS) // the latest version the replica acknowledged, per key
  const next = new Int32Array(KEYS)
  const before = (await tr.topology()).cache
  let reads = 0
  let ops = 0
  let stale = 0
  // Event-loop turns (one per check phase): a stale read in the very turn its write's ack was read.
  const ackTurn = new Int32Array(KEYS)
  let turn = 0
  let sameTurn = 0
  let running = true
  const count = () => {
    turn++
    if (running) setImmediate(count)
  }
  count()
  const end = performance.now() + durationMs
  const worker = async () => {
    while (performance.now() < end) {
      const k = Math.floor(Math.random() * KEYS)
      ops++
      if (Math.random() < 0.1) {
        const version = (next[k] ?? 0) + 1
        next[k] = version
        await writer.set(`mix:${k}`, String(version))
        await writer.wait(1, 1000)
        if ((acknowledged[k] ?? 0) < version) {
          acknowledged[k] = version
          ackTurn[k] = turn
        }
      } else {
        const floor = acknowledged[k] ?? 0
        const value = Number((await tr.slave.get(`mix:${k}`)) ?? 0)
        reads++
        if (value < floor) {
          stale++
          if (ackTurn[k] === turn) sameTurn++
        }
      }
    }
  }
  const start = performance.now()
  const cpu = process.cpuUsage()
  await Promise.all(Array.from({ length: DEPTH }, worker))
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  running = false
  const after = (await tr.topology()).cache
  const hits = (after?.hits ?? 0) - (before?.hits ?? 0)
  const cpuPerOp = (used.user + used.system) / ops
  return { opsPerSec: ops / seconds, hitRate: hits / reads, reads, stale, sameTurn, cpuPerOp }
}

const lab = await startLab({ replicas: 1, sentinels: 1 })
try {
  const cached = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, { clientCache: true })
  const uncached = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
  await cached.master.set('hot', 'x'.repeat(32))
  await cached.master.wait(1, 1000)
  await cached.slave.get('hot')
  await uncached.slave.get('hot')
  const replica = lab.node(cached.slave.node?.address ?? '')
  if (!replica) throw new Error('no replica')
  const plain = new Redis(replica.port, replica.host)
  const writer = new Redis(lab.master.port, lab.master.host)
  // Until the tracking pair is up and the key cached.
  for (let i = 0; i < 100 && ((await cached.topology()).cache?.hits ?? 0) === 0; i++) {
    await cached.slave.get('hot')
    await new Promise((r) => setTimeout(r, 10))
  }

  const plainRates: number[] = []
  const cacheRates: number[] = []
  const noCacheRates: number[] = []
  const ratios: number[] = []
  const cpu: Record<'plain' | 'cache' | 'none', number[]> = { plain: [], cache: [], none: [] }
  for (let round = 0; round < rounds + 1; round++) {
    const [p, pc] = await rate(() => plain.get('hot'), 20_000)
    const [c, cc] = await rate(() => cached.slave.get('hot'), 200_000)
    const [u, uc] = await rate(() => uncached.slave.get('hot'), 20_000)
    if (round === 0) continue // warm-up
    plainRates.push(p)
    cacheRates.push(c)
    noCacheRates.push(u)
    ratios.push(c / p)
    cpu.plain.push(pc)
    cpu.cache.push(cc)
    cpu.none.push(uc)
  }
  const us = (v: number[]) => `${median(v).toFixed(2)} µs`
  const k = (v: number) => `${Math.round(v / 1000)}k`
  console.log(`hot-key GET, ${DEPTH} in flight, ${rounds} rounds (medians)\n`)
  console.log(
    table(
      ['client', 'GET/s', 'vs plain ioredis', 'CPU per GET'],
      [
        ['ioredis (plain, same replica)', k(median(plainRates)), '1.00x', us(cpu.plain)],
        [
          'tr.slave, no cache',
          k(median(noCacheRates)),
          `${(median(noCacheRates) / median(plainRates)).toFixed(2)}x`,
          us(cpu.none),
        ],
        ['tr.slave, clientCache', k(median(cacheRates)), `${median(ratios).toFixed(1)}x`, us(cpu.cache)],
      ],
    ),
  )

  const seconds = 5
  const withCache = await mix(cached, writer, seconds * 1000)
  const without = await mix(uncached, writer, seconds * 1000)
  const stats = (await cached.topology()).cache
  console.log(`\n90/10 read/write mix over 10,000 keys, ${DEPTH} in flight, ${seconds} s each\n`)
  console.log(
    table(
      ['client', 'ops/s', 'CPU per op', 'hit rate', 'reads', 'stale reads (in the ack turn)'],
      [
        [
          'tr.slave, no cache',
          k(without.opsPerSec),
          `${without.cpuPerOp.toFixed(2)} µs`,
          '-',
          without.reads,
          `${without.stale} (${without.sameTurn})`,
        ],
        [
          'tr.slave, clientCache',
          k(withCache.opsPerSec),
          `${withCache.cpuPerOp.toFixed(2)} µs`,
          `${(100 * withCache.hitRate).toFixed(1)} %`,
          withCache.reads,
          `${withCache.stale} (${withCache.sameTurn})`,
        ],
      ],
    ),
  )
  console.log(`\ncache after the run: ${JSON.stringify(stats)}`)
  plain.disconnect()
  writer.disconnect()
  await cached.quit()
  await uncached.quit()
} finally {
  await lab.stop()
}
