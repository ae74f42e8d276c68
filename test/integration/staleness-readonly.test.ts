// maxStalenessMs in a process that only reads (the writes come from elsewhere: here the lab's own
// connection): the process samples the master's offset itself, so the bound holds for it too.
// Reads are counted on the nodes (INFO commandstats); the only clock is a generous bound on the
// rejection, whose measured delay is reported as a diagnostic.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TwiceRedis, TwiceRedisEvents } from '../../src/index.js'
import type { Lab, LabNode } from '../../src/lab/index.js'
import { parseInfo } from '../../src/protocol/node-info.js'
import { labPerFile } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

async function getsOn(lab: Lab, node: LabNode): Promise<number> {
  const stats = parseInfo(String(await lab.command(node, 'INFO', 'commandstats')))
  return Number(/calls=(\d+)/.exec(stats.cmdstat_get ?? '')?.[1] ?? 0)
}

/** Reads (GET) on `tr.slave` every few ms until stopped; every failure is counted. */
function readLoop(tr: TwiceRedis) {
  let running = true
  let ok = 0
  const failed: string[] = []
  const done = (async () => {
    while (running) {
      try {
        await tr.slave.get('fresh')
        ok++
      } catch (err) {
        failed.push((err as Error).message)
      }
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  return {
    get ok() {
      return ok
    },
    async stop() {
      running = false
      await done
      return failed
    },
  }
}

/** Writes from outside the process under test (the lab's connection to the master) until stopped. */
function writeLoop(lab: Lab) {
  let running = true
  const done = (async () => {
    for (let i = 0; running; i++) {
      await lab.command(lab.master, 'SET', 'fresh', String(i)).catch(() => {})
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  return async () => {
    running = false
    await done
  }
}

describe('maxStalenessMs in a process that only reads', () => {
  const fx = labPerFile({ downAfterMs: 10_000 })
  const nodeOf = (address: string | undefined) => fx.lab.node(address ?? '') as LabNode
  const maxStalenessMs = 2000
  const healthCheckIntervalMs = 200

  it('leaves a replica whose link broke under writes from elsewhere, with node-rejected', async (t) => {
    const tr = fx.open({ maxStalenessMs, healthCheckIntervalMs, maxLinkDownMs: 60_000 })
    const stopWrites = writeLoop(fx.lab)
    const reads = readLoop(tr)
    let held: LabNode | undefined
    try {
      await until(() => reads.ok > 20, 'reads before the fault')
      held = nodeOf(tr.slave.node?.address)
      const address = held.address
      let rejection: TwiceRedisEvents['node-rejected'][0] | undefined
      tr.on('node-rejected', (e) => {
        if (e.address === address && e.stalenessMs !== undefined) rejection ??= e
      })
      const brokenAt = Date.now()
      await fx.lab.breakReplicaLink(held, { wait: false })
      // The bound is maxStalenessMs + interval + 500 ms; the wait is generous (CPU on a shared machine).
      await until(() => rejection !== undefined, 'node-rejected for the stale replica', 15_000)
      t.diagnostic(`left ${Date.now() - brokenAt} ms after its link broke, estimate ${rejection?.stalenessMs} ms`)
      assert.match(rejection?.reason ?? '', /^staleness ~\d+ ms > maxStalenessMs 2000$/)
      const before = await getsOn(fx.lab, held)
      const after = reads.ok
      await until(() => reads.ok >= after + 100, '100 reads after it was left')
      assert.equal(await getsOn(fx.lab, held), before, 'the stale replica served reads after it was left')
      // The newest master offset is the process' own sample (a re-resolve may slip a sentinel one in).
      let source: string | undefined
      await until(
        () => source === 'sampler',
        "topology() to name the sampler's offset",
        5000,
        async () => {
          source = (await tr.topology()).replicas.find((r) => r.address === address)?.masterOffsetSource
        },
      )
    } finally {
      if (held) await fx.lab.restoreReplicaLink(held)
      await stopWrites()
      assert.deepEqual(await reads.stop(), [])
      await tr.quit() // its line to the master closes with it (the next test counts them)
    }
  })

  it('an idle master causes no rejection, and the sample line closes with the last client', async (t) => {
    const idleMs = Number(process.env.TWICEREDIS_IDLE_MS ?? 30_000)
    await fx.lab.waitForReplication()
    const master = fx.lab.master
    const clientsBefore = await fx.lab.clientConnections(master)
    const a = fx.open({ maxStalenessMs: 400, healthCheckIntervalMs: healthCheckIntervalMs })
    const b = fx.open({ maxStalenessMs: 400, healthCheckIntervalMs: healthCheckIntervalMs })
    const rejected: string[] = []
    for (const tr of [a, b]) {
      tr.on('node-rejected', (e) => rejected.push(`${e.address} ${e.reason}`))
      tr.on('fallback-to-master', (e) => rejected.push(`fallback: ${e.reason}`))
      await tr.slave.ping()
    }
    // Two read-only clients, one line to the master between them (neither has used tr.master).
    await until(
      () => sampled,
      'the master to be sampled',
      5000,
      async () => {
        sampled = (await fx.lab.clientConnections(master)) === clientsBefore + 1
      },
    )
    const reads = readLoop(a)
    await new Promise((r) => setTimeout(r, idleMs))
    const failed = await reads.stop()
    t.diagnostic(`${reads.ok} reads over ${idleMs} ms of an idle master`)
    assert.deepEqual(failed, [])
    assert.deepEqual(rejected, [])
    await a.quit()
    assert.equal(await fx.lab.clientConnections(master), clientsBefore + 1, 'b still needs the line')
    await b.quit()
    await until(
      () => closed,
      'the line to close with the last client',
      5000,
      async () => {
        closed = (await fx.lab.clientConnections(master)) === clientsBefore
      },
    )
  })
  let sampled = false
  let closed = false

  it('after a failover the sample line follows the new master, and leaves the old one', async () => {
    const tr = fx.open({ maxStalenessMs: 400, healthCheckIntervalMs: 100 })
    await tr.slave.ping()
    const old = fx.lab.master
    /** Connections of ours on `node` whose last command is INFO (the sentinels' are named). */
    const samplers = async (node: LabNode) =>
      String(await fx.lab.command(node, 'CLIENT', 'LIST'))
        .split('\n')
        .filter((l) => / cmd=info( |$)/.test(l) && !/ name=sentinel-/.test(l)).length
    await until(
      () => before === 1,
      'the line on the master',
      5000,
      async () => {
        before = await samplers(old)
      },
    )
    await fx.lab.failover()
    const elected = await fx.lab.waitForNewMaster()
    await until(
      () => after === 1,
      'the line on the new master',
      10_000,
      async () => {
        after = await samplers(elected)
      },
    )
    await until(
      () => left === 0,
      'the line to leave the old master',
      10_000,
      async () => {
        left = await samplers(old)
      },
    )
    let sources: (string | undefined)[] = []
    const fromSampler = () => sources.length > 0 && sources.every((x) => x === 'sampler')
    await until(fromSampler, 'samples of the new master', 5000, async () => {
      sources = (await tr.topology()).replicas.map((r) => r.masterOffsetSource)
    })
    await tr.quit() // the next test's client samples alone
  })
  let before = 0
  let after = 0
  let left = 1

  it('a user refused INFO is sampled with ROLE', async () => {
    for (const node of fx.lab.dataNodes) {
      await fx.lab.command(node, 'ACL', 'SETUSER', 'noinfo', 'on', '>noinfo-pw', '~*', '&*', '+@all', '-info')
    }
    const tr = fx.open({ username: 'noinfo', password: 'noinfo-pw', maxStalenessMs: 400, healthCheckIntervalMs: 100 })
    await tr.slave.ping()
    let sources: (string | undefined)[] = []
    const fromSampler = () => sources.length > 0 && sources.every((x) => x === 'sampler')
    await until(fromSampler, 'samples of the master over ROLE', 5000, async () => {
      sources = (await tr.topology()).replicas.map((r) => r.masterOffsetSource)
    })
  })
})
