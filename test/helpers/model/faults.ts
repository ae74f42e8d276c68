// Faults of a model run: each starts before a given step, lasts some steps while a ticker keeps
// every write client writing (un-awaited INCRs, as an application under load), then is recovered
// from (the lab back to one master its replicas follow) before the run goes on.
import fc from 'fast-check'
import type { LabNode } from '../../../src/lab/index.js'
import { isBusy } from './steps.js'
import type { World } from './world.js'

const kinds = ['failover', 'cut-off', 'client-kill', 'replica-pause', 'replica-link'] as const

export const fault = fc.record({
  kind: fc.constantFrom(...kinds),
  /** Before which step it starts, and for how many steps it lasts. */
  at: fc.nat(39),
  steps: fc.integer({ min: 1, max: 8 }),
  x: fc.nat(99),
})
export type Fault = typeof fault extends fc.Arbitrary<infer F> ? F : never

export interface Active {
  fault: Fault
  node: LabNode
  until: number
  started: boolean
  ticker: NodeJS.Timeout
  resume?: NodeJS.Timeout
}

/** Start `f`; the ticker writes from every idle write client every 10 ms until it is recovered. */
export async function startFault(world: World, f: Fault, index: number): Promise<Active> {
  const lab = world.lab
  const replicas = lab.replicas
  const node =
    f.kind === 'client-kill'
      ? lab.dataNodes[f.x % lab.dataNodes.length]!
      : f.kind.startsWith('replica')
        ? replicas[f.x % replicas.length]!
        : lab.master
  world.log.push(`fault ${f.kind} on ${node.name} (${node.address})`)
  let tick = 0
  const burst = () => {
    tick++
    for (const w of world.live()) {
      if (isBusy(w)) continue
      world.incr(w, `ticker INCR on writer ${w.id} during ${f.kind}`, w.client.incr(w.counter))
      // Now and then a command whose rejection the application leaves unhandled, fenced or not.
      if (tick % 25 === w.id % 25) world.wrongType(w)
    }
  }
  const ticker = setInterval(burst, 10)
  // An application under load writes in every turn of the event loop, also the one right after
  // the fence lifts for some of its clients: a burst then, from every client.
  world.onUnfence = () => setImmediate(burst)
  const active: Active = { fault: f, node, until: index + f.steps, started: true, ticker }
  if (f.kind === 'failover' || f.kind === 'cut-off') {
    world.failingOver = true
    for (const n of lab.dataNodes) await lab.command(n, 'CLIENT', 'UNPAUSE').catch(() => {})
  }
  try {
    switch (f.kind) {
      case 'failover':
        await lab.failover()
        break
      case 'cut-off':
        await lab.cutOffSentinels(node)
        break
      case 'client-kill':
        await lab.command(node, 'CLIENT', 'KILL', 'TYPE', 'normal')
        break
      case 'replica-pause':
        lab.pause(node)
        active.resume = setTimeout(() => lab.resume(node), 200 + (f.x % 5) * 100)
        break
      case 'replica-link':
        await lab.breakReplicaLink(node, { wait: false })
        break
    }
  } catch (err) {
    // A failover the sentinels refuse (one is still in progress) is no fault of the client.
    active.started = false
    world.log.push(`fault ${f.kind} not started: ${(err as Error).message}`)
  }
  return active
}

/** Undo `a` and wait until the lab has one master that every replica follows again. */
export async function recover(world: World, a: Active): Promise<void> {
  const lab = world.lab
  try {
    if (a.started) {
      switch (a.fault.kind) {
        case 'failover':
          // The sentinels may accept the request and still find no replica fit to promote (one
          // just reconfigured): then there was no failover, and nothing for the client to do.
          await lab.waitForNewMaster(20_000).catch((err) => world.log.push(`no failover: ${err.message}`))
          break
        case 'cut-off':
          await lab.waitForNewMaster(20_000)
          await lab.restoreSentinels(a.node)
          break
        case 'replica-pause':
          clearTimeout(a.resume)
          lab.resume(a.node)
          break
        case 'replica-link':
          await lab.restoreReplicaLink(a.node)
          break
      }
    }
    await lab.waitForMaster(undefined, 20_000)
    await lab.waitFor(20_000, 'every replica to follow the master', async () => {
      const info = String(await lab.command(lab.master, 'INFO', 'replication'))
      return info.includes(`connected_slaves:${lab.dataNodes.length - 1}`) || undefined
    })
    await lab.waitForReplication(10_000)
  } finally {
    clearInterval(a.ticker)
    world.onUnfence = undefined
    world.failingOver = false
    world.log.push(`recovered from ${a.fault.kind}`)
  }
}
