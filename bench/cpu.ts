// CPU per command against plain ioredis: SET on the write side and GET on the read side, at 1 and
// at 50 commands in flight, for tr.master / tr.slave (consistency 'eventual', default options; and
// 'session', reported apart; and with write coalescing off, one socket write per command as plain
// ioredis) against plain ioredis clients to the same master and the same replica.
// Throughput on this shared 2-core machine swings with the neighbours' load; the CPU this process
// spends per command (process.cpuUsage, user + system) is what twiceredis' command path adds to, and
// is steadier. Rounds are interleaved (every case in every round, each contender measured `reps`
// times per round, the order reversed each time) after warm-up rounds; medians of all measurements,
// and the ratio to plain ioredis as the median of the ratios of each measurement to the plain one
// beside it, with their 25th-75th percentiles.
// Alone: `npx tsx bench/cpu.ts [rounds]` (after `npm run build`: it runs dist/ through 'twiceredis').
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { Redis } from 'ioredis'
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'
import { median, table } from './peers.js'

type Send = () => Promise<unknown>

interface Case {
  side: 'write' | 'read'
  depth: number
  /** Commands per measurement: about 0.1-0.2 s each on this machine. */
  n: number
  /**
   * Measurements of each contender per round, alternating in order: one command in flight is the
   * noisiest (a wake-up per command), so it gets more, shorter ones, each beside its reference.
   */
  reps: number
}

const cases: Case[] = [
  { side: 'write', depth: 1, n: 1000, reps: 4 },
  { side: 'write', depth: 50, n: 8000, reps: 2 },
  { side: 'read', depth: 1, n: 1000, reps: 4 },
  { side: 'read', depth: 50, n: 8000, reps: 2 },
]

const contenders = [
  'ioredis (plain, same node)',
  "twiceredis 'eventual'",
  "twiceredis 'session'",
  "twiceredis 'eventual', enableWriteCoalescing: false",
] as const
type Contender = (typeof contenders)[number]

/** µs of this process' CPU per command: `n` commands, `depth` of them in flight at any time. */
async function cpuPerCommand(send: Send, n: number, depth: number): Promise<number> {
  let left = n
  const worker = async () => {
    while (left-- > 0) await send()
  }
  const before = process.cpuUsage()
  await Promise.all(Array.from({ length: depth }, worker))
  const used = process.cpuUsage(before)
  return (used.user + used.system) / n
}

/** The `p`-th quantile (0..1) of `values`, linearly interpolated. */
function quantile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (sorted.length - 1) * p
  const low = Math.floor(at)
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low)
}

/** The commit measured, and whether src/ differs from it (a local instrumentation, a rewrite in progress). */
function commit(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trim()
    const changed = git('status', '--porcelain', 'src') ? ', with uncommitted changes in src/' : ''
    return `src/ as of ${git('log', '-1', '--format=%h', '--', 'src')} (HEAD ${git('rev-parse', '--short', 'HEAD')}${changed})`
  } catch {
    return 'unknown'
  }
}

export async function cpuBench(rounds = 16, warmup = 3): Promise<string> {
  const startLoad = loadavg()[0]!.toFixed(1)
  const lab = await startLab()
  const closers: (() => Promise<unknown> | undefined)[] = []
  try {
    const key = 'bench:cpu'
    const eventual = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
    closers.push(() => eventual.quit())
    const session = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, { consistency: 'session' })
    closers.push(() => session.quit())
    const uncoalesced = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, {
      enableWriteCoalescing: false,
    })
    closers.push(() => uncoalesced.quit())
    await eventual.master.set(key, 'value')
    await eventual.master.wait(2, 1000)
    const plainMaster = new Redis({ host: lab.master.host, port: lab.master.port })
    closers.push(async () => plainMaster.disconnect())
    // Each read side is compared with a plain client to the replica it reads from (they may differ).
    const plainReplicas = new Map<string, Redis>()
    const plainReplicaOf = async (tr: TwiceRedis) => {
      await tr.slave.get(key)
      const node = tr.slave.node
      if (node?.role !== 'replica') throw new Error(`${tr.slave.side} side reads from ${node?.address} (no replica)`)
      let plain = plainReplicas.get(node.address)
      if (!plain) {
        plain = new Redis({ host: node.host, port: node.port })
        const p = plain
        closers.push(async () => p.disconnect())
        plainReplicas.set(node.address, plain)
      }
      return plain
    }
    const replicaOfEventual = await plainReplicaOf(eventual)
    const replicaOfSession = await plainReplicaOf(session)
    const replicaOfUncoalesced = await plainReplicaOf(uncoalesced)
    await session.master.set(key, 'value')
    const send = (c: Contender, side: Case['side']): [Send, Send | undefined] => {
      const set = (r: Redis) => () => r.set(key, 'value')
      const get = (r: Redis) => () => r.get(key)
      const op = side === 'write' ? set : get
      if (c === "twiceredis 'eventual'") return [op(side === 'write' ? eventual.master : eventual.slave), undefined]
      if (c === "twiceredis 'session'" || c === "twiceredis 'eventual', enableWriteCoalescing: false") {
        const [tr, replica] =
          c === "twiceredis 'session'" ? [session, replicaOfSession] : [uncoalesced, replicaOfUncoalesced]
        // Its own plain reference too, when its replica is not the eventual side's.
        const plain = side === 'read' && replica !== replicaOfEventual ? op(replica) : undefined
        return [op(side === 'write' ? tr.master : tr.slave), plain]
      }
      return [op(side === 'write' ? plainMaster : replicaOfEventual), undefined]
    }
    const samples = new Map<string, number[]>()
    const record = (name: string, c: Case, value: number) => {
      const k = `${name}\u0000${c.side}\u0000${c.depth}`
      samples.set(k, [...(samples.get(k) ?? []), value])
    }
    const got = (name: string, c: Case) => samples.get(`${name}\u0000${c.side}\u0000${c.depth}`)!
    for (let round = 1 - warmup; round <= rounds; round++) {
      if (round === 1 - warmup) process.stderr.write(`cpu: ${warmup} warm-up rounds\n`)
      else if (round === 1 || (round > 0 && round % 5 === 0)) process.stderr.write(`cpu: round ${round}/${rounds}\n`)
      for (const c of cases) {
        for (let rep = 0; rep < c.reps; rep++) {
          const order = (round + rep) % 2 ? [...contenders] : [...contenders].reverse()
          for (const contender of order) {
            const [tr, ownPlain] = send(contender, c.side)
            const used = await cpuPerCommand(tr, c.n, c.depth)
            if (round > 0) record(contender, c, used)
            if (ownPlain) {
              const plainUsed = await cpuPerCommand(ownPlain, c.n, c.depth)
              if (round > 0) record(`${contender} plain`, c, plainUsed)
            }
          }
        }
      }
    }
    const endLoad = loadavg()[0]!.toFixed(1)
    const rows = cases.map((c) => {
      const plain = got(contenders[0], c)
      const cells = contenders.slice(1).flatMap((contender) => {
        const tr = got(contender, c)
        // The adjacent plain rounds: the same round's (its own, when its replica differs).
        const reference = samples.get(`${contender} plain\u0000${c.side}\u0000${c.depth}`) ?? plain
        const ratios = tr.map((v, i) => v / reference[i]!)
        return [
          `${median(tr).toFixed(1)} µs`,
          `**${median(ratios).toFixed(3)}x** (${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)})`,
        ]
      })
      return [
        `${c.side === 'write' ? 'SET' : 'GET'} (${c.side} side)`,
        c.depth,
        rounds * c.reps,
        `${median(plain).toFixed(1)} µs`,
        ...cells,
      ]
    })
    return `${table(
      [
        'command',
        'in flight',
        'pairs',
        contenders[0],
        contenders[1],
        'ratio (P25-P75)',
        `${contenders[2]} (not in the 1.03x target)`,
        'ratio (P25-P75)',
        contenders[3],
        'ratio (P25-P75)',
      ],
      rows,
    )}

CPU per command: this process' user + system CPU time over ${cases.map((c) => c.n).join('/')} commands,
divided by their number (the servers are other processes). ${rounds} interleaved rounds after ${warmup} of
warm-up, every case in each; in a round each contender is measured ${cases.map((c) => c.reps).join('/')} times,
in alternating order ("pairs"). Medians of all measurements; ratio: the median of the ratios of each
measurement to the plain ioredis one beside it, with their 25th-75th percentiles. One lab (1 master,
2 replicas, 3 sentinels), one process, twiceredis with default options (\`'session'\`: \`consistency:
'session'\`, not part of the 1.03x target; the last column: \`enableWriteCoalescing: false\`). Commit measured: ${commit()}. Machine: 2 cores, noisy
(other engineers' tests and labs running beside it); load average ${startLoad} at the start, ${endLoad} at the end.`
  } finally {
    for (const close of closers.reverse()) await close()?.catch(() => {})
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await cpuBench(Number(process.argv[2] ?? 16)))
}
