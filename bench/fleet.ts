// Fleet: P processes of N write clients each (one INCR per client every 100 ms,
// `maxRetriesPerRequest: null`) through a master SIGKILL, counted at the sentinels. Each process
// is bench/fleet-worker.ts (forked). New sentinel connections are the growth of each sentinel's
// `INFO stats` total_connections_received between a steady state and one second after the last
// client wrote again, read over connections the harness opened before (so none of its own are
// counted); "quiet window" is the same count over an equal window with no fault afterwards.
// "Back" is when a client's first INCR issued after the kill succeeded, from the switch: the
// first moment a sentinel reports the new master (polled every 5 ms).
import { type ChildProcess, fork } from 'node:child_process'
import { Redis } from 'ioredis'
import { startLab } from 'twiceredis/lab'
import type { FromWorker, ToWorker, WorkerConfig } from './fleet-worker.js'
import { median, sleep, table } from './peers.js'

export interface FleetRun extends FleetSize {
  /** New connections per sentinel during the failover (harness excluded), in lab.sentinels order. */
  opened: number[]
  /** The same count over a window of equal length with no fault. */
  quiet: number
  /** Per client: ms from the switch (first sentinel reporting the new master) to its first write. */
  backMs: number[]
  /** Per process: ms from the switch to the first of its clients sent to the new master. */
  learnedMs: number[]
  failed: number
  loopDelayP99Ms: number
  memoryPerInstance: { heapBytes: number; rssBytes: number }
}

const WORKER = new URL('./fleet-worker.ts', import.meta.url).pathname

export interface FleetSize {
  client: WorkerConfig['client']
  processes: number
  perProcess: number
  /** The data nodes' `tcp-backlog` (Redis' default, 511, if not given). */
  tcpBacklog?: number | undefined
  /** Each client sends one INCR this often. @default 100 */
  intervalMs?: number | undefined
  /** `plain`: every client reconnects this long after the drop, all at once. @default 0 */
  outageMs?: number | undefined
}

/**
 * One fleet through one master SIGKILL on a fresh lab; `plain` clients (the floor) through every
 * connection of the fleet killed at once instead, reconnecting to the same node.
 */
export async function runFleet({
  client,
  processes,
  perProcess,
  tcpBacklog,
  intervalMs = 100,
  outageMs = 0,
}: FleetSize): Promise<FleetRun> {
  const lab = await startLab({ tcpBacklog })
  const probes = lab.sentinels.map((s) => new Redis({ host: s.host, port: s.port, lazyConnect: true }))
  const workers: ChildProcess[] = []
  try {
    for (const p of probes) await p.connect()
    const received = () =>
      Promise.all(probes.map(async (p) => Number(/total_connections_received:(\d+)/.exec(await p.info('stats'))?.[1])))
    const config: WorkerConfig = {
      client,
      name: lab.masterName,
      sentinels: lab.sentinelAddresses,
      master: [lab.master.host, lab.master.port],
      reconnectAfterMs: outageMs,
      count: perProcess,
      intervalMs,
    }
    const ready: Promise<FleetRun['memoryPerInstance']>[] = []
    const recovered: Promise<Extract<FromWorker, { type: 'recovered' }>>[] = []
    for (let i = 0; i < processes; i++) {
      const worker = fork(WORKER, {
        // (Bun runs TypeScript itself.)
        execArgv: process.versions.bun ? [] : ['--import', 'tsx', '--expose-gc'],
        env: { ...process.env, FLEET_WORKER: JSON.stringify(config) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      })
      workers.push(worker)
      ready.push(waitFor(worker, 'ready', 60_000).then((m) => m.memory))
      recovered.push(waitFor(worker, 'recovered', 120_000))
    }
    const memory = await Promise.all(ready)
    await sleep(1000) // steady state: every client writing, nothing connecting

    const start = await received()
    const windowStart = Date.now()
    const oldMaster = lab.master
    let switchedAt: number
    if (client === 'plain') {
      // The floor: every connection of the fleet dropped at once, all reconnecting to the same node.
      await lab.command(oldMaster, 'CLIENT', 'KILL', 'TYPE', 'normal')
      const killedAt = Date.now()
      for (const w of workers) w.send({ type: 'kill', at: killedAt } satisfies ToWorker)
      switchedAt = killedAt + outageMs // when they all reconnect
    } else {
      await lab.kill(oldMaster)
      // After the process is gone: a write issued from now on can only succeed on a new master.
      for (const w of workers) w.send({ type: 'kill', at: Date.now() } satisfies ToWorker)
      switchedAt = await firstSwitch(probes, lab.masterName, oldMaster.address)
    }
    const reports = await Promise.all(recovered)
    await sleep(1000) // late connections (a slow poll, a watch closing) still count
    const end = await received()
    const windowMs = Date.now() - windowStart
    if (client !== 'plain') await lab.waitForNewMaster()

    // The same window with no fault: what the fleet (and the sentinels among themselves) open anyway.
    const quietStart = await received()
    await sleep(windowMs)
    const quietEnd = await received()
    return {
      client,
      processes,
      perProcess,
      tcpBacklog,
      outageMs,
      opened: end.map((e, i) => e - start[i]!),
      quiet: sum(quietEnd.map((e, i) => e - quietStart[i]!)),
      backMs: reports.flatMap((r) => r.times.map((t) => t - switchedAt)),
      learnedMs: reports.flatMap((r) => (r.learned === undefined ? [] : [r.learned - switchedAt])),
      failed: sum(reports.map((r) => r.failed)),
      loopDelayP99Ms: Math.max(...reports.map((r) => r.loopDelayP99Ms)),
      memoryPerInstance: {
        heapBytes: median(memory.map((m) => m.heapBytes)),
        rssBytes: median(memory.map((m) => m.rssBytes)),
      },
    }
  } finally {
    await Promise.all(workers.map((w) => stop(w)))
    for (const p of probes) p.disconnect()
    await lab.stop()
  }
}

/** When the first sentinel reported a master other than `old` (polled every 5 ms). */
async function firstSwitch(probes: Redis[], name: string, old: string): Promise<number> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const answers = await Promise.all(
      probes.map((p) => p.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).catch(() => undefined)),
    )
    if (answers.some((a) => Array.isArray(a) && `${a[0]}:${a[1]}` !== old)) return Date.now()
    await sleep(5)
  }
  throw new Error('no sentinel reported a new master within 30 s')
}

function waitFor<T extends FromWorker['type']>(
  worker: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`a fleet process sent no '${type}' within ${timeoutMs} ms`)),
      timeoutMs,
    )
    worker.on('message', (m: FromWorker) => {
      if (m.type !== type) return
      clearTimeout(timer)
      resolve(m as Extract<FromWorker, { type: T }>)
    })
    worker.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`a fleet process exited with ${code} before '${type}'`))
    })
  })
}

async function stop(worker: ChildProcess): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return
  const exited = new Promise((resolve) => worker.once('exit', resolve))
  worker.send({ type: 'stop' } satisfies ToWorker)
  const timer = setTimeout(() => worker.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

function describeRun(r: FleetRun): (string | number)[] {
  const total = sum(r.opened)
  const busiest = total ? Math.max(...r.opened) / total : 0
  const back = [...r.backMs].sort((a, b) => a - b)
  const plain = r.client === 'plain'
  return [
    plain ? `floor: plain ioredis, reconnect to the same node${r.outageMs ? ` ${r.outageMs} ms later` : ''}` : r.client,
    `${r.processes} x ${r.perProcess}`,
    r.tcpBacklog ?? 511,
    plain ? '-' : (total / r.processes).toFixed(1),
    plain ? '-' : `${Math.round(busiest * 100)}% (${r.opened.join('/')})`,
    plain ? '-' : r.quiet,
    r.learnedMs.length ? Math.round(median(r.learnedMs)) : '-',
    Math.round(median(back)),
    Math.round(back.at(-1) ?? Number.NaN),
    r.failed,
    r.loopDelayP99Ms.toFixed(1),
    `${(r.memoryPerInstance.heapBytes / 1024).toFixed(1)} / ${(r.memoryPerInstance.rssBytes / 1024).toFixed(1)}`,
  ]
}

const header = [
  'run',
  'client',
  'processes x instances',
  'tcp-backlog',
  'new sentinel connections per process',
  'busiest sentinel (per sentinel)',
  'quiet window',
  'switch learned (ms, median process)',
  'median back (ms)',
  'last back (ms)',
  'failed',
  'event-loop delay p99 (ms)',
  'KiB per idle instance (heap / RSS)',
]

/** What one round runs: every size for twiceredis and ioredis, the floor, and the backlog a fleet needs. */
export const fleetSizes: FleetSize[] = [
  ...[
    [1, 200],
    [10, 20],
    [20, 50],
    [1, 1000],
  ].flatMap(([processes, perProcess]) =>
    (['twiceredis', 'ioredis'] as const).map((client) => ({ client, processes: processes!, perProcess: perProcess! })),
  ),
  { client: 'plain', processes: 20, perProcess: 50 },
  { client: 'plain', processes: 20, perProcess: 50, outageMs: 2000 },
  { client: 'plain', processes: 1, perProcess: 1000 },
  { client: 'twiceredis', processes: 20, perProcess: 50, tcpBacklog: 4096 },
  { client: 'plain', processes: 20, perProcess: 50, tcpBacklog: 4096 },
]

/** The bench section, `rounds` times over. */
export async function fleetBench(rounds = 2, sizes = fleetSizes): Promise<string> {
  const rows: (string | number)[][] = []
  for (let round = 1; round <= rounds; round++) {
    for (const size of sizes) {
      const backlog = size.tcpBacklog ? `, tcp-backlog ${size.tcpBacklog}` : ''
      process.stderr.write(`fleet: round ${round}, ${size.processes} x ${size.perProcess} ${size.client}${backlog}\n`)
      rows.push([round, ...describeRun(await runFleet(size))])
    }
  }
  return table(header, rows)
}
