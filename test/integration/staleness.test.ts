// maxStalenessMs on a real lab: a replica that stops replicating while the master takes writes is
// left once its estimated staleness passes the bound; a caught-up replica on an idle master is
// never rejected. Reads are counted on the nodes (INFO commandstats), not timed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TwiceRedis, TwiceRedisEvents } from '../../src/index.js'
import type { Lab, LabNode } from '../../src/lab/index.js'
import { parseInfo } from '../../src/protocol/node-info.js'
import { labPerFile } from '../helpers/lab.js'
import { startLoad, until } from '../helpers/load.js'

async function getsOn(lab: Lab, node: LabNode): Promise<number> {
  const stats = parseInfo(String(await lab.command(node, 'INFO', 'commandstats')))
  return Number(/calls=(\d+)/.exec(stats.cmdstat_get ?? '')?.[1] ?? 0)
}

/** The first event `event` of `tr` that matches, bounded. */
function next<K extends 'node-rejected' | 'resolved'>(
  tr: TwiceRedis,
  event: K,
  match: (e: TwiceRedisEvents[K][0]) => boolean,
  timeoutMs = 15_000,
): Promise<TwiceRedisEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      tr.off(event, on as never)
      reject(new Error(`no matching ${event} within ${timeoutMs} ms`))
    }, timeoutMs)
    const on = (e: TwiceRedisEvents[K][0]) => {
      if (!match(e)) return
      clearTimeout(timer)
      tr.off(event, on as never)
      resolve(e)
    }
    tr.on(event, on as never)
  })
}

describe('maxStalenessMs', () => {
  // down-after 10 s: what leaves the replicas below is the staleness bound, not the sentinels.
  const fx = labPerFile({ downAfterMs: 10_000 })
  const nodeOf = (address: string | undefined) => fx.lab.node(address ?? '') as LabNode

  it('a replica whose link broke while the master takes writes is left once past the bound, and not read from after', async (t) => {
    // maxLinkDownMs: the broken link alone does not exclude it; only its staleness does.
    const tr = fx.open({ maxStalenessMs: 1000, healthCheckIntervalMs: 100, maxLinkDownMs: 60_000 })
    const load = startLoad(tr)
    let held: LabNode | undefined
    try {
      await until(() => load.progress('replica') > 20, 'reads before the fault')
      held = nodeOf(tr.slave.node?.address)
      const address = held.address
      const left = next(tr, 'node-rejected', (e) => e.address === address && e.stalenessMs !== undefined)
      const brokenAt = Date.now()
      await fx.lab.breakReplicaLink(held, { wait: false })
      const rejection = await left
      t.diagnostic(`left ${Date.now() - brokenAt} ms after its link broke, estimate ${rejection.stalenessMs} ms`)
      assert.match(rejection.reason, /^staleness ~\d+ ms > maxStalenessMs 1000$/)
      assert.ok(rejection.stalenessMs! > 1000)
      const before = await getsOn(fx.lab, held)
      const reads = load.progress('replica')
      await until(() => load.progress('replica') >= reads + 100, '100 reads after it was left')
      assert.equal(await getsOn(fx.lab, held), before, 'the stale replica served reads after it was left')
      // topology() estimates from the sentinels' INFO of the replica, up to one INFO period old
      // (1 s in the lab): it reports the replica past the bound once that INFO is.
      let report: { eligible: boolean; reason?: string | undefined } | undefined
      await until(
        () => report?.eligible === false,
        'topology() to report the replica past the bound',
        5_000,
        async () => {
          report = (await tr.topology()).replicas.find((r) => r.address === address)
        },
      )
      assert.match(report?.reason ?? '', /^staleness ~\d+ ms > maxStalenessMs 1000$/)

      await fx.lab.restoreReplicaLink(held)
      held = undefined
      await until(
        () => caughtUp,
        'the replica to count as caught up again',
        15_000,
        async () => {
          const r = (await tr.topology()).replicas.find((x) => x.address === address)
          caughtUp = r?.eligible === true && r.stalenessMs === 0
        },
      )
    } finally {
      if (held) await fx.lab.restoreReplicaLink(held)
      const report = await load.stop()
      assert.deepEqual(report.failed, {})
    }
  })
  let caughtUp = false

  it('a replica silent for longer than the bound is left, and not chosen again, also with a long connectTimeoutMs', async () => {
    const tr = fx.open({ maxStalenessMs: 500, healthCheckIntervalMs: 100, connectTimeoutMs: 10_000 })
    const load = startLoad(tr)
    const paused = await (async () => {
      await until(() => load.progress('replica') > 20, 'reads before the fault')
      return nodeOf(tr.slave.node?.address)
    })()
    // Chosen again, it would hold the read side for connectTimeoutMs (the other replica is as eligible).
    const chosen: string[] = []
    tr.on('resolved', (e) => e.side === 'replica' && chosen.push(e.address))
    try {
      const left = next(tr, 'node-rejected', (e) => e.address === paused.address)
      fx.lab.pause(paused)
      assert.equal((await left).reason, 'did not answer a health check within 500 ms')
      const reads = load.progress('replica')
      await until(() => load.progress('replica') >= reads + 50, '50 reads elsewhere while it is paused')
      assert.ok(chosen.length > 0 && !chosen.includes(paused.address), `chosen: ${chosen}`)
    } finally {
      fx.lab.resume(paused)
      const report = await load.stop()
      assert.deepEqual(report.failed, {})
    }
  })

  it('a caught-up replica on an idle master is never rejected', async (t) => {
    // The tightest bound there is (2 × the interval); the lab's master pings its replicas every
    // second, so its offset moves while no one writes.
    const idleMs = Number(process.env.TWICEREDIS_IDLE_MS ?? 5000)
    await fx.lab.waitForReplication() // every replica caught up (a paused one resyncs)
    const tr = fx.open({ maxStalenessMs: 200, healthCheckIntervalMs: 100 })
    const rejected: string[] = []
    tr.on('node-rejected', (e) => rejected.push(`${e.address} ${e.reason}`))
    tr.on('fallback-to-master', (e) => rejected.push(`fallback: ${e.reason}`))
    await tr.master.ping() // the master side's health check samples its offset
    await tr.slave.ping()
    const replica = nodeOf(tr.slave.node?.address)
    const before = await getsOn(fx.lab, replica)
    let reads = 0
    const until = Date.now() + idleMs
    while (Date.now() < until) {
      await tr.slave.get('idle')
      reads++
      await new Promise((r) => setTimeout(r, 20))
    }
    t.diagnostic(`${reads} reads over ${idleMs} ms of an idle master`)
    assert.deepEqual(rejected, [])
    assert.equal(await getsOn(fx.lab, replica), before + reads)
    const { replicas } = await tr.topology()
    for (const r of replicas) assert.equal(r.eligible, true, `${r.address}: ${r.reason}`)
  })
})
