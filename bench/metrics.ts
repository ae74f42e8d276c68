// Metrics overhead: GET x50 on the read side and SET x50 on the write side (as throughput.ts),
// for twiceredis with a MeterProvider registered (every command recorded by the OpenTelemetry
// SDK), with none registered, and plain ioredis on the same nodes; with TWICEREDIS_BASE=<path to
// another build's dist/index.js>, that build too (twiceredis before metrics existed). Interleaved
// by round, medians over rounds. On a shared machine throughput swings with the neighbours'
// load, so each run also reports the CPU time this process spent per command (user + system),
// which is what the metrics add to: its ratio is the steadier figure.
import { metrics } from '@opentelemetry/api'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { Redis } from 'ioredis'
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'
import { median, shuffled, table } from './peers.js'
import { type Client, measure, type Op } from './throughput.js'

/** Commands per second, and µs of this process' CPU per command, over `ms`. */
const measureCpu = (client: Client, op: Op, ms: number): Promise<{ rate: number; cpu: number }> =>
  measure(client, op, ms)

/** Collects only when asked (never, here): what is measured is recording, not exporting. */
class IdleReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const ops: Op[] = ['GET x50', 'SET x50']

const fromPair = (name: string, read: Redis, write: Redis, close: () => Promise<void>): Client => ({
  name,
  get: (k) => read.get(k),
  set: (k, v) => write.set(k, v),
  pipelineGet: () => Promise.resolve(),
  close,
})

export async function metricsBench(rounds = 5, ms = 1000): Promise<string> {
  const lab = await startLab()
  const reader = new IdleReader()
  try {
    const all: Client[] = []
    const connected = async (name: string, tr: TwiceRedis) => {
      await tr.master.set('bench:key', 'value')
      await tr.master.wait(2, 1000)
      await tr.slave.get('bench:key')
      all.push(fromPair(name, tr.slave, tr.master, () => tr.quit()))
      return tr
    }
    // Built and connected before any MeterProvider exists: it never measures (it checks again only
    // when a side reconnects, which no command here makes it do).
    const off = await connected('twiceredis, no MeterProvider', new TwiceRedis(lab.masterName, lab.sentinelAddresses))
    const replica = off.slave.node!
    if (process.env.TWICEREDIS_BASE) {
      const base = (await import(process.env.TWICEREDIS_BASE)) as { TwiceRedis: typeof TwiceRedis }
      await connected('twiceredis before metrics', new base.TwiceRedis(lab.masterName, lab.sentinelAddresses))
    }
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))
    await connected('twiceredis, MeterProvider registered', new TwiceRedis(lab.masterName, lab.sentinelAddresses))
    await connected(
      "twiceredis, MeterProvider, metrics: 'without-commands'",
      new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, { metrics: 'without-commands' }),
    )
    const read = new Redis({ host: replica.host, port: replica.port })
    const write = new Redis({ host: lab.master.host, port: lab.master.port })
    all.push(
      fromPair('ioredis (plain, same nodes)', read, write, async () => {
        read.disconnect()
        write.disconnect()
      }),
    )
    const results = new Map<string, { rate: number; cpu: number }[]>()
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`metrics: round ${round}/${rounds}\n`)
      for (const op of ops) {
        for (const client of shuffled(all)) {
          const key = `${client.name}\u0000${op}`
          results.set(key, [...(results.get(key) ?? []), await measureCpu(client, op, ms)])
        }
      }
    }
    await Promise.all(all.map((c) => c.close()))
    const of = (name: string, op: Op, key: 'rate' | 'cpu') =>
      median(results.get(`${name}\u0000${op}`)!.map((r) => r[key]))
    const reference = 'twiceredis, no MeterProvider'
    const rows = all.map(({ name }) => [
      name,
      ...ops.flatMap((op) => [
        `${Math.round(of(name, op, 'rate') / 1000)}k/s (${(of(name, op, 'rate') / of(reference, op, 'rate')).toFixed(2)})`,
        `${of(name, op, 'cpu').toFixed(1)} µs (${(of(reference, op, 'cpu') / of(name, op, 'cpu')).toFixed(2)})`,
      ]),
    ])
    const header = ops.flatMap((op) => [`${op} (ratio)`, `${op} CPU per command (inverse ratio)`])
    return `${table(['client', ...header], rows)}

Ratios to "${reference}" in parentheses; a CPU ratio is that client's CPU per command divided into the
reference's, so below 1 means slower. One noisy 2-core machine shared with the lab's servers (and
here with other labs): medians of ${rounds} rounds of ${ms} ms, interleaved.`
  } finally {
    await reader.shutdown().catch(() => {})
    metrics.disable()
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await metricsBench(Number(process.argv[2] ?? 5)))
}
