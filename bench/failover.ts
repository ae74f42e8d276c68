// Failover recovery: a writer per client every few ms while the master is SIGKILLed.
// Measures, per client, the time from the kill and from the sentinels' switch to the first
// successful write, failed commands and hung commands; all clients in the same failover.
import { Redis } from 'ioredis'
import { type Lab, startLab } from 'twiceredis/lab'
import {
  ioredisSentinel,
  median,
  nodeRedisSentinel,
  type Peer,
  type PeerFactory,
  sleep,
  table,
  twiceredis,
} from './peers.js'

interface Outcome {
  name: string
  fromKillMs: number
  fromSwitchMs: number
  failed: number
  hung: number
}

async function writer(peer: Peer, key: string, state: { killAt: number; stop: boolean }) {
  const out = { firstAfterKill: Number.NaN, failed: 0, pending: 0 }
  const loop = (async () => {
    for (let i = 0; !state.stop; i++) {
      out.pending++
      try {
        await peer.write(key, String(i))
        const now = performance.now()
        if (state.killAt && now > state.killAt && Number.isNaN(out.firstAfterKill)) out.firstAfterKill = now
      } catch {
        out.failed++
      } finally {
        out.pending--
      }
      await sleep(5)
    }
  })()
  return { out, loop }
}

/** Poll every sentinel until one reports a master other than `old`. */
async function waitForSwitch(lab: Lab, old: string): Promise<number> {
  const clients = lab.sentinels.map((s) => new Redis({ host: s.host, port: s.port, protocol: 2 }))
  try {
    for (;;) {
      const replies = await Promise.allSettled(
        clients.map((c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', lab.masterName)),
      )
      const now = performance.now()
      for (const r of replies) {
        if (r.status === 'fulfilled' && Array.isArray(r.value) && `${r.value[0]}:${r.value[1]}` !== old) return now
      }
      await sleep(5)
    }
  } finally {
    for (const c of clients) c.disconnect()
  }
}

export async function failoverRun(factories: PeerFactory[]): Promise<Outcome[]> {
  const lab = await startLab()
  try {
    const peers = await Promise.all(factories.map((f) => f(lab)))
    for (const p of peers) await p.write('warm', '1')
    const state = { killAt: 0, stop: false }
    const writers = await Promise.all(peers.map((p, i) => writer(p, `failover:${i}`, state)))
    await sleep(300)
    const old = lab.master.address
    state.killAt = performance.now()
    await lab.kill(lab.master)
    const switchAt = await waitForSwitch(lab, old)
    const deadline = performance.now() + 15_000
    while (writers.some((w) => Number.isNaN(w.out.firstAfterKill)) && performance.now() < deadline) await sleep(5)
    state.stop = true
    await Promise.race([Promise.all(writers.map((w) => w.loop)), sleep(5000)])
    const outcomes = peers.map((p, i) => {
      const { out } = writers[i]!
      return {
        name: p.name,
        fromKillMs: out.firstAfterKill - state.killAt,
        fromSwitchMs: out.firstAfterKill - switchAt,
        failed: out.failed,
        hung: out.pending,
      }
    })
    await Promise.all(peers.map((p) => p.close().catch(() => {})))
    return outcomes
  } finally {
    await lab.stop()
  }
}

export async function failoverBench(runs = 5): Promise<string> {
  const factories = [
    twiceredis('twiceredis'),
    twiceredis('twiceredis, failoverDetection: false', { failoverDetection: false }),
    ioredisSentinel(),
    nodeRedisSentinel(),
  ]
  const all: Outcome[][] = []
  for (let run = 1; run <= runs; run++) {
    process.stderr.write(`failover: run ${run}/${runs}\n`)
    all.push(await failoverRun(factories))
  }
  const rows = all[0]!.map((o, i) => {
    const of = (f: (x: Outcome) => number) => all.map((r) => f(r[i]!))
    const fmt = (ms: number) => (Number.isNaN(ms) ? 'never' : `${Math.round(ms)} ms`)
    return [
      o.name,
      fmt(median(of((x) => x.fromKillMs))),
      fmt(median(of((x) => x.fromSwitchMs))),
      `${Math.round(Math.min(...of((x) => x.fromSwitchMs)))}..${Math.round(Math.max(...of((x) => x.fromSwitchMs)))} ms`,
      of((x) => x.failed).reduce((a, b) => a + b, 0),
      of((x) => x.hung).reduce((a, b) => a + b, 0),
    ]
  })
  return table(
    [
      'client',
      'first write after kill (median)',
      'after the switch (median)',
      'after the switch (range)',
      'failed',
      'hung',
    ],
    rows,
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await failoverBench(Number(process.argv[2] ?? 5)))
}
