// Throughput: GET on the read side and SET on the write side with 50 commands in flight on one
// connection, and GET in pipelines of 100; every client against the same lab, interleaved by
// round, medians over rounds. redis-benchmark on the same node is the ceiling.
import { execFileSync } from 'node:child_process'
import { Redis } from 'ioredis'
import { TwiceRedis } from 'twiceredis'
import { type Lab, startLab } from 'twiceredis/lab'
import { ioredisPair, median, nodeRedisClient, shuffled, table } from './peers.js'

export interface Client {
  name: string
  get(key: string): Promise<unknown>
  set(key: string, value: string): Promise<unknown>
  pipelineGet(key: string, n: number): Promise<unknown>
  close(): Promise<void>
}

export type Op = 'GET x50' | 'SET x50' | 'GET pipeline 100'
const ops: Op[] = ['GET x50', 'SET x50', 'GET pipeline 100']

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
  const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
  const auto = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, {
    redisOptions: { enableAutoPipelining: true },
  })
  const nodeRedis = nodeRedisClient(lab)
  await nodeRedis.connect()
  const viaSentinel = ioredisPair(lab)
  return [
    {
      ...fromIoredis('twiceredis', tr.slave, tr.master),
      close: () => tr.quit(),
    },
    {
      ...fromIoredis('twiceredis, enableAutoPipelining', auto.slave, auto.master),
      close: () => auto.quit(),
    },
    fromIoredis(
      'ioredis (plain, same nodes)',
      new Redis({ host, port: Number(port) }),
      new Redis({ host: lab.master.host, port: lab.master.port }),
    ),
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
  ]
}

/** Commands per second for `ms` milliseconds. */
export async function measure(client: Client, op: Op, ms: number): Promise<number> {
  const end = performance.now() + ms
  let done = 0
  if (op === 'GET pipeline 100') {
    while (performance.now() < end) {
      await client.pipelineGet('bench:key', 100)
      done += 100
    }
  } else {
    const worker = async () => {
      while (performance.now() < end) {
        await (op === 'GET x50' ? client.get('bench:key') : client.set('bench:key', 'value'))
        done++
      }
    }
    await Promise.all(Array.from({ length: 50 }, worker))
  }
  return (done / ms) * 1000
}

/** redis-benchmark on one connection with the same depth: the ceiling. */
function redisBenchmark(host: string, port: number, op: Op): number {
  const [test, depth] = op === 'SET x50' ? ['set', 50] : op === 'GET x50' ? ['get', 50] : ['get', 100]
  const out = execFileSync(
    'redis-benchmark',
    ['-h', host, '-p', String(port), '-c', '1', '-P', String(depth), '-n', '300000', '-t', test, '--csv'],
    { encoding: 'utf8' },
  )
  const row = out.trim().split('\n').at(-1)!.split(',')
  return Number(JSON.parse(row[1]!))
}

export async function throughputBench(rounds = 3, ms = 1000): Promise<string> {
  const lab = await startLab()
  try {
    const probe = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
    await probe.master.set('bench:key', 'value')
    await probe.master.wait(2, 1000)
    await probe.slave.get('bench:key')
    const replica = probe.slave.node!.address
    await probe.quit()
    const all = await clients(lab, replica)
    const results = new Map<string, number[]>()
    const record = (name: string, op: Op, value: number) => {
      const key = `${name}\u0000${op}`
      results.set(key, [...(results.get(key) ?? []), value])
    }
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`throughput: round ${round}/${rounds}\n`)
      for (const op of ops) {
        for (const client of shuffled(all)) record(client.name, op, await measure(client, op, ms))
        const [host, port] = (op === 'SET x50' ? lab.master.address : replica).split(':') as [string, string]
        record('redis-benchmark (ceiling)', op, redisBenchmark(host, Number(port), op))
      }
    }
    await Promise.all(all.map((c) => c.close()))
    const names = [...all.map((c) => c.name), 'redis-benchmark (ceiling)']
    const value = (name: string, op: Op) => median(results.get(`${name}\u0000${op}`)!)
    const rows = names.map((name) => [
      name,
      ...ops.flatMap((op) => {
        const v = value(name, op)
        return [
          `${Math.round(v / 1000)}k/s`,
          `${(v / value('ioredis (plain, same nodes)', op)).toFixed(2)} / ${(v / value('redis-benchmark (ceiling)', op)).toFixed(2)}`,
        ]
      }),
    ])
    return table(['client', ...ops.flatMap((op) => [op, 'ratio to ioredis / to ceiling'])], rows)
  } finally {
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await throughputBench(Number(process.argv[2] ?? 3)))
}
