// One process of a fleet (bench/fleet.ts forks it): `count` write clients, each sending one INCR
// every `intervalMs` with `maxRetriesPerRequest: null`. Told when the master was killed, it
// reports when each client wrote again (the first INCR issued after the kill that succeeded),
// its event-loop delay over the outage, and its memory per idle instance.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import { TwiceRedis } from 'twiceredis'

export interface WorkerConfig {
  client: 'twiceredis' | 'ioredis'
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

const debug: { connect?: number; ready?: number }[] = []
/** When the first client of this process was sent to the new master (twiceredis only). */
let learned: number | undefined
const config = JSON.parse(process.env.FLEET_WORKER ?? '{}') as WorkerConfig
const send = (message: FromWorker) => process.send?.(message)

function open(): Writer {
  if (config.client === 'twiceredis') {
    const tr = new TwiceRedis(config.name, config.sentinels, undefined, { maxRetriesPerRequest: null })
    tr.on('error', () => {})
    tr.on('master-changed', ({ from }) => {
      if (from !== undefined && learned === undefined) learned = Date.now()
    })
    if (process.env.FLEET_DEBUG) {
      const i = debug.length
      debug.push({})
      for (const ev of ['connect', 'ready'] as const) {
        tr.master.on(ev, () => {
          if (learned !== undefined) debug[i]![ev] ??= Date.now()
        })
      }
    }
    return { incr: () => tr.master.incr('fleet'), close: () => tr.quit() }
  }
  const sentinels = config.sentinels.map(([host, port]) => ({ host, port }))
  const redis = new Redis({ sentinels, name: config.name, maxRetriesPerRequest: null })
  redis.on('error', () => {})
  return { incr: () => redis.incr('fleet'), close: async () => redis.disconnect() }
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
const loop = monitorEventLoopDelay({ resolution: 1 })

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
  if (process.env.FLEET_DEBUG && learned !== undefined) {
    const l = learned
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const conn = debug.map((d) => (d.connect ?? Number.NaN) - l)
    const ready = debug.map((d) => (d.ready ?? Number.NaN) - (d.connect ?? Number.NaN))
    const back = debug.map((d, i) => backAt[i]! - (d.ready ?? Number.NaN))
    console.error(
      `connect after learned ${med(conn)} max ${Math.max(...conn)}; ready after connect ${med(ready)} max ${Math.max(...ready)}; back after ready ${med(back)} max ${Math.max(...back)}`,
    )
  }
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
