// Same-zone reads and maxStalenessMs: reads/s beside `random` (one lab, interleaved rounds,
// medians), and how long after a fault the read side leaves (a zone's last replica losing its
// link; a replica that stops replicating under writes). Figures are from one noisy 2-core
// machine: read the ratios, not the absolute numbers.
import { TwiceRedis, type TwiceRedisOptions } from 'twiceredis'
import { type Lab, type LabNode, startLab } from 'twiceredis/lab'
import { median, shuffled, sleep, table } from './peers.js'

/** Zone a: replica-1 (127.0.0.12); zone b: the master and replica-2. */
const zones = { a: ['127.0.0.12'], b: ['127.0.0.11', '127.0.0.13'] }

/** GETs per second with 50 in flight on the read side, for `ms`. */
async function readsPerSecond(tr: TwiceRedis, ms: number): Promise<number> {
  const end = performance.now() + ms
  let done = 0
  const worker = async () => {
    while (performance.now() < end) {
      await tr.slave.get('bench:key')
      done++
    }
  }
  await Promise.all(Array.from({ length: 50 }, worker))
  return (done / ms) * 1000
}

async function throughput(lab: Lab, rounds: number): Promise<string> {
  const open = (options: TwiceRedisOptions) =>
    new TwiceRedis({ name: lab.masterName, sentinels: lab.sentinelAddresses, ...options })
  const clients = {
    random: open({}),
    // The same as `random`: how far two identical clients differ here (the noise floor).
    'random, a second client': open({}),
    'same-zone': open({ clientZone: 'a', zones, replicaSelection: 'same-zone' }),
    'maxStalenessMs: 2000': open({ maxStalenessMs: 2000 }),
  }
  try {
    await clients.random.master.set('bench:key', 'value')
    // The staleness client's write side samples the master's offset, as in an application that writes.
    await clients['maxStalenessMs: 2000'].master.ping()
    const results = new Map<string, number[]>()
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`zones: throughput round ${round}/${rounds}\n`)
      for (const [name, tr] of shuffled(Object.entries(clients))) {
        await tr.slave.get('bench:key')
        results.set(name, [...(results.get(name) ?? []), await readsPerSecond(tr, 500)])
      }
    }
    const random = median(results.get('random')!)
    return table(
      ['read side', 'GET x50', 'ratio to random'],
      Object.keys(clients).map((name) => {
        const v = median(results.get(name)!)
        return [name, `${Math.round(v / 1000)}k/s`, (v / random).toFixed(2)]
      }),
    )
  } finally {
    await Promise.all(Object.values(clients).map((tr) => tr.quit()))
  }
}

/** How long after `fault` the read side of `tr` resolves elsewhere than `from`. */
async function timeToLeave(tr: TwiceRedis, from: string, fault: () => Promise<void>): Promise<number> {
  const left = new Promise<number>((resolve) => {
    tr.on('resolved', (e) => {
      if (e.side === 'replica' && e.address !== from) resolve(Date.now())
    })
  })
  const at = Date.now()
  await fault()
  return (await Promise.race([left, sleep(20_000).then(() => Number.NaN)])) - at
}

async function leaving(lab: Lab, runs: number): Promise<string> {
  const [, a] = lab.dataNodes as LabNode[]
  const zone: number[] = []
  const stale: number[] = []
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`zones: leaving run ${run}/${runs}\n`)
    // Zone a's only replica loses its link; health check every 100 ms.
    const zoned = new TwiceRedis({
      name: lab.masterName,
      sentinels: lab.sentinelAddresses,
      clientZone: 'a',
      zones,
      replicaSelection: 'same-zone',
      healthCheckIntervalMs: 100,
    })
    await zoned.slave.get('bench:key')
    zone.push(await timeToLeave(zoned, a!.address, () => lab.breakReplicaLink(a!, { wait: false })))
    await zoned.quit()
    await lab.restoreReplicaLink(a!)
    // A replica stops replicating while the master takes a write every 10 ms; default interval (1000 ms).
    const bounded = new TwiceRedis({
      name: lab.masterName,
      sentinels: lab.sentinelAddresses,
      maxStalenessMs: 2000,
      maxLinkDownMs: 60_000,
    })
    let writing = true
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await bounded.master.set('bench:tick', String(i))
        await sleep(10)
      }
    })()
    await sleep(1500) // some history
    await bounded.slave.get('bench:key')
    const held = lab.node(bounded.slave.node!.address)!
    stale.push(await timeToLeave(bounded, held.address, () => lab.breakReplicaLink(held, { wait: false })))
    writing = false
    await writer
    await bounded.quit()
    await lab.restoreReplicaLink(held)
  }
  const row = (what: string, bound: string, values: number[]) => [
    what,
    bound,
    `${Math.round(median(values))} ms`,
    values.map((v) => Math.round(v)).join(', '),
  ]
  return table(
    ['fault', 'bound', 'left after (median)', 'runs'],
    [
      row("zone a's last replica loses its link", 'one health-check interval (100 ms)', zone),
      row('a replica stops replicating under writes', 'maxStalenessMs + one interval (2000 + 1000 ms)', stale),
    ],
  )
}

export async function zonesBench(rounds = 15): Promise<string> {
  // Throughput on a lab with one replica: every client reads from the same node, so the ratio is
  // the client's own cost (selection happens on connect; nothing is added per command).
  const single = await startLab({ distinctAddresses: true, replicas: 1 })
  let speed: string
  try {
    speed = await throughput(single, rounds)
  } finally {
    await single.stop()
  }
  const lab = await startLab({ distinctAddresses: true })
  try {
    const leave = await leaving(lab, 3)
    return `${speed}\n\n${leave}\n\nLabs with \`distinctAddresses\` (zone a = replica-1, zone b = the master and replica-2). Throughput: one replica, so every client reads from the same node; ${rounds} interleaved rounds of 500 ms, medians. One noisy 2-core machine shared with other labs: read the ratios, not the absolute figures, and the second \`random\` client first: it runs exactly the same code as the first, so the spread between them is this machine's noise, which is larger than any difference the options could make (they act on connect and in the health check; a command takes the same path with each).`
  } finally {
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await zonesBench(Number(process.argv[2] ?? 15)))
}
