// One process of a fleet (bench/fleet.ts forks it): `count` write clients, each sending one INCR
// every `intervalMs` with `maxRetriesPerRequest: null`. Told when the fault happened, it reports
// when each client wrote again (the first INCR issued after the fault that succeeded), its
// event-loop delay from the fault on, and its memory per idle instance.
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import { TwiceRedis } from 'twiceredis'

export interface WorkerConfig {
  /** `plain`: ioredis connected to `master` directly, for the floor (see fleet.ts). */
  client: 'twiceredis' | 'ioredis' | 'plain'
  master?: [string, number] | undefined
  /** `plain`: reconnect this long after the drop (commands queue meanwhile, as in an outage). */
  reconnectAfterMs?: number | undefined
  name: string
  sentinels: [string, number][]
  count: number
  intervalMs: number
}

export type FromWorker =
  | { type: 'ready'; memory: { heapBytes: number; rssBytes: number } }
  | {
      type: 'recovered'
      times: number[]
      learned: number | undefined
      failed: number
      loopDelayP99Ms: number
      loopDelayMaxMs: number
    }

export type ToWorker = { type: 'kill'; at: number } | { type: 'stop' }

interface Writer {
  incr(): Promise<unknown>
  close(): Promise<unknown>
}

/** When the first client of this process was sent to the new master (twiceredis only). */
let learned: number | undefined
const config = JSON.parse(process.env.FLEET_WORKER ?? '{}') as WorkerConfig
const send = (message: FromWorker) => process.send?.(message)

function open(): Writer {
  if (config.client === 'twiceredis') {
    const tr = new TwiceRedis(config.name, config.sentinels, undefined, { maxRetriesPerRequest: null })
    tr.on('error', () => {})
    tr.on('master-changed', ({ from }) => {
      if (from !== undefined) learned ??= Date.now()
    })
    return { incr: () => tr.master.incr('fleet'), close: () => tr.quit() }
  }
  if (config.client === 'plain') {
    // The floor: ioredis straight to a known node, reconnecting at once or after a fixed outage.
    const [host, port] = config.master ?? []
    const delay = config.reconnectAfterMs ?? 0
    const redis = new Redis({ host, port, maxRetriesPerRequest: null, retryStrategy: () => delay })
    redis.on('error', () => {})
    return { incr: () => redis.incr('fleet'), close: async () => redis.disconnect() }
  }
  const sentinels = config.sentinels.map(([host, port]) => ({ host, port }))
  const redis = new Redis({ sentinels, name: config.name, maxRetriesPerRequest: null })
  redis.on('error', () => {})
  return { incr: () => redis.incr('fleet'), close: async () => redis.disconnect() }
}

/** Node's event-loop delay histogram; Bun has none, and reports zeros. */
function eventLoopDelay(): Pick<IntervalHistogram, 'enable' | 'disable' | 'percentile' | 'max'> {
  try {
    return monitorEventLoopDelay({ resolution: 1 })
  } catch {
    return { enable: () => true, disable: () => true, percentile: () => 0, max: 0 }
  }
}

function memory() {
  globalThis.gc?.()
  const m = process.memoryUsage()
  return { heapBytes: m.heapUsed + m.external, rssBytes: m.rss }
}

const before = memory()
const writers = Array.from({ length: config.count }, open)
await Promise.all(writers.map((w) => w.incr()))
const after = memory()

let killedAt: number | undefined
const backAt: (number | undefined)[] = writers.map(() => undefined)
let failed = 0
let stopping = false
const loop = eventLoopDelay()

function tick(i: number): void {
  if (stopping) return
  const issuedAt = Date.now()
  writers[i]!.incr().then(
    () => {
      if (killedAt !== undefined && issuedAt >= killedAt && backAt[i] === undefined) {
        backAt[i] = Date.now()
        if (backAt.every((t) => t !== undefined)) recovered()
      }
    },
    () => {
      failed++
    },
  )
  setTimeout(() => tick(i), config.intervalMs)
}

function recovered(): void {
  loop.disable()
  send({
    type: 'recovered',
    times: backAt as number[],
    learned,
    failed,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  })
}

// Spread the clients over the interval, as independent users would be.
for (const i of writers.keys()) setTimeout(() => tick(i), Math.random() * config.intervalMs)
process.on('message', async (message: ToWorker) => {
  if (message.type === 'kill') {
    killedAt = message.at
    loop.enable()
  } else {
    stopping = true
    await Promise.all(writers.map((w) => w.close().catch(() => {})))
    process.exit(0)
  }
})
send({
  type: 'ready',
  memory: {
    heapBytes: (after.heapBytes - before.heapBytes) / config.count,
    rssBytes: (after.rssBytes - before.rssBytes) / config.count,
  },
})
