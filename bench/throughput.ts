// Throughput: GET on the read side and SET on the write side with 1 and 50 commands in flight on
// one connection, and GET in pipelines of 100; every client against the same lab, interleaved by
// round (the order shuffled each round), with this process' CPU per command beside each rate.
// Ratios: the median over rounds of each measurement's ratio to plain ioredis in the same round
// (this 2-core machine is shared: rates swing with the neighbours' load, ratios much less).
// redis-benchmark on the same node is the ceiling. Valkey GLIDE (`@valkey/valkey-glide`) is
// a dev dependency, measured when installed (the replica for GET, the master for SET).
// Alone: `npm run build && npx tsx bench/throughput.ts [rounds]`.
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { Redis } from 'ioredis'
import { TwiceRedis, type TwiceRedisOptions } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { ioredisPair, median, nodeRedisClient, shuffled, table } from './peers.js'

export interface Client {
  name: string
  get(key: string): Promise<unknown>
  set(key: string, value: string): Promise<unknown>
  pipelineGet(key: string, n: number): Promise<unknown>
  close(): Promise<void>
}

export type Op = 'GET x1' | 'SET x1' | 'GET x50' | 'SET x50' | 'GET pipeline 100'
const ops: Op[] = ['GET x1', 'SET x1', 'GET x50', 'SET x50', 'GET pipeline 100']
const PLAIN = 'ioredis (plain, same nodes)'

/** Valkey GLIDE, if installed (a Rust core behind a Node binding; not a dependency of ours). */
async function glide(host: string, port: number, master: Lab['master']): Promise<Client | undefined> {
  const name = '@valkey/valkey-glide'
  let mod: { GlideClient: { createClient(o: unknown): Promise<GlideLike> } }
  try {
    mod = await import(name)
  } catch {
    return undefined
  }
  type GlideLike = {
    get(k: string): Promise<unknown>
    set(k: string, v: string): Promise<unknown>
    exec(batch: unknown, raise: boolean): Promise<unknown>
    close(): void
  }
  // A standalone GLIDE client needs the primary among its addresses; reads go to the replica given.
  const primary = { host: master.host, port: master.port }
  const read = await mod.GlideClient.createClient({ addresses: [primary, { host, port }], readFrom: 'preferReplica' })
  const write = await mod.GlideClient.createClient({ addresses: [primary] })
  const { Batch } = (await import(name)) as { Batch: new (atomic: boolean) => { get(k: string): void } }
  return {
    name: 'Valkey GLIDE (one node each)',
    get: (k) => read.get(k),
    set: (k, v) => write.set(k, v),
    pipelineGet: (k, n) => {
      const batch = new Batch(false)
      for (let i = 0; i < n; i++) batch.get(k)
      return read.exec(batch, true)
    },
    close: async () => {
      read.close()
      write.close()
    },
  }
}

async function clients(lab: Lab, replica: string): Promise<Client[]> {
  const [host, port] = replica.split(':') as [string, string]
  const fromIoredis = (name: string, read: Redis, write: Redis): Client => ({
    name,
    get: (k) => read.get(k),
    set: (k, v) => write.set(k, v),
    pipelineGet: (k, n) => {
      const p = read.pipeline()
      for (let i = 0; i < n; i++) p.get(k)
      return p.exec()
    },
    close: async () => {
      read.disconnect()
      write.disconnect()
    },
  })
  const twice = (name: string, options: TwiceRedisOptions = {}): Client => {
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, options)
    return { ...fromIoredis(name, tr.slave, tr.master), close: () => tr.quit() }
  }
  const plain = (options = {}) =>
    [
      new Redis({ host, port: Number(port), ...options }),
      new Redis({ host: lab.master.host, port: lab.master.port, ...options }),
    ] as const
  const nodeRedis = nodeRedisClient(lab)
  await nodeRedis.connect()
  const viaSentinel = ioredisPair(lab)
  const valkey = await glide(host, Number(port), lab.master)
  return [
    twice('twiceredis'),
    twice('twiceredis, enableWriteCoalescing: false', { enableWriteCoalescing: false }),
    twice('twiceredis, enableAutoPipelining', { redisOptions: { enableAutoPipelining: true } }),
    fromIoredis(PLAIN, ...plain()),
    fromIoredis('ioredis (plain), enableAutoPipelining', ...plain({ enableAutoPipelining: true })),
    fromIoredis('ioredis (sentinel)', viaSentinel.replica, viaSentinel.master),
    {
      name: 'node-redis (sentinel)',
      get: (k) => nodeRedis.get(k),
      set: (k, v) => nodeRedis.set(k, v),
      pipelineGet: (k, n) => {
        const m = nodeRedis.multi()
        for (let i = 0; i < n; i++) m.get(k)
        return m.execAsPipeline()
      },
      close: async () => {
        nodeRedis.destroy()
      },
    },
    ...(valkey ? [valkey] : []),
  ]
}

/** Commands per second for `ms` milliseconds, and this process' CPU (user + system) per command in µs. */
export async function measure(client: Client, op: Op, ms: number): Promise<{ rate: number; cpu: number }> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const end = start + ms
  let done = 0
  if (op === 'GET pipeline 100') {
    while (performance.now() < end) {
      await client.pipelineGet('bench:key', 100)
      done += 100
    }
  } else {
    const worker = async () => {
      while (performance.now() < end) {
        await (op.startsWith('GET') ? client.get('bench:key') : client.set('bench:key', 'value'))
        done++
      }
    }
    await Promise.all(Array.from({ length: op.endsWith('x1') ? 1 : 50 }, worker))
  }
  const used = process.cpuUsage(cpu)
  return { rate: (done / (performance.now() - start)) * 1000, cpu: (used.user + used.system) / done }
}

/** redis-benchmark on one connection with the same depth: the ceiling. */
function redisBenchmark(host: string, port: number, op: Op): number {
  const depth = op === 'GET pipeline 100' ? 100 : op.endsWith('x1') ? 1 : 50
  const test = op.startsWith('SET') ? 'set' : 'get'
  const out = execFileSync(
    'redis-benchmark',
    [
      '-h',
      host,
      '-p',
      String(port),
      '-c',
      '1',
      '-P',
      String(depth),
      '-n',
      String(depth === 1 ? 30000 : 300000),
      '-t',
      test,
      '--csv',
    ],
    { encoding: 'utf8' },
  )
  const row = out.trim().split('\n').at(-1)!.split(',')
  return Number(JSON.parse(row[1]!))
}

export async function throughputBench(rounds = 5, ms = 700): Promise<string> {
  const startLoad = loadavg()[0]!.toFixed(1)
  const lab = await startLab()
  try {
    const probe = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
    await probe.master.set('bench:key', 'value')
    await probe.master.wait(2, 1000)
    await probe.slave.get('bench:key')
    const replica = probe.slave.node!.address
    await probe.quit()
    const all = await clients(lab, replica)
    const CEILING = 'redis-benchmark (ceiling)'
    /** name, op -> one measurement per round (the same index: the same round). */
    const results = new Map<string, { rate: number; cpu: number }[]>()
    const record = (name: string, op: Op, value: { rate: number; cpu: number }) => {
      const key = `${name}\u0000${op}`
      results.set(key, [...(results.get(key) ?? []), value])
    }
    const got = (name: string, op: Op) => results.get(`${name}\u0000${op}`)!
    for (const client of all) for (const op of ops) await measure(client, op, ms / 4) // warm-up
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`throughput: round ${round}/${rounds}\n`)
      for (const op of ops) {
        for (const client of shuffled(all)) record(client.name, op, await measure(client, op, ms))
        const [host, port] = (op.startsWith('SET') ? lab.master.address : replica).split(':') as [string, string]
        record(CEILING, op, { rate: redisBenchmark(host, Number(port), op), cpu: Number.NaN })
      }
    }
    await Promise.all(all.map((c) => c.close()))
    const endLoad = loadavg()[0]!.toFixed(1)
    const rows = [...all.map((c) => c.name), CEILING].map((name) => [
      name,
      ...ops.map((op) => {
        const mine = got(name, op)
        const ratios = mine.map((m, i) => m.rate / got(PLAIN, op)[i]!.rate)
        const cpu = median(mine.map((m) => m.cpu))
        const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`
        return `${Math.round(median(mine.map((m) => m.rate)) / 1000)}k/s, **${median(ratios).toFixed(2)}x** (${range})${Number.isNaN(cpu) ? '' : `, ${cpu.toFixed(1)} µs`}`
      }),
    ])
    return `${table(['client', ...ops], rows)}

Each cell: commands per second (median of ${rounds} rounds of ${ms} ms), **the median of the per-round ratios to
${PLAIN}** (min-max of rounds), and this process' CPU (user + system) per command. "x1": one command in
flight, awaited before the next; "x50": 50 tasks each awaiting its own; GET on the read side (a replica),
SET on the write side. Rounds interleaved, order shuffled each round, after a warm-up. Machine: 2 cores,
shared (other engineers' tests beside it): load average ${startLoad} at the start, ${endLoad} at the end.`
  } finally {
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await throughputBench(Number(process.argv[2] ?? 5)))
}
