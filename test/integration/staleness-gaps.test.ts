// maxStalenessMs where the process' record of the master's offset has a gap: a process that
// starts (or whose read side comes back from an idle timeout) while the replicas' links are
// already broken, and a master killed while one replica's link is broken. Writes come from
// elsewhere (the lab's own connection); a read is too stale when the value it returned had been
// overwritten, acknowledged, longer ago than the bound allows (maxStalenessMs + one health-check
// interval + 500 ms) before the read was sent. No other clock.
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import type { TwiceRedis } from '../../src/index.js'
import type { Lab, LabNode } from '../../src/lab/index.js'
import { masterSampleFromCache } from '../../src/protocol/sentinel-replies.js'
import { withLab } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

const maxStalenessMs = 1000
const healthCheckIntervalMs = 200
const bound = maxStalenessMs + healthCheckIntervalMs + 500
const options = { maxStalenessMs, healthCheckIntervalMs, maxLinkDownMs: 60_000 }
/** How long the links are broken before the reads: well past the bound. */
const brokenMs = 3500

/** Writes `0, 1, 2, ...` to `fresh` on whichever node is the lab's master, noting when each was acknowledged. */
function writeLoop(lab: Lab) {
  const ackedAt: number[] = []
  let running = true
  const done = (async () => {
    for (let i = 0; running; ) {
      try {
        await lab.command(lab.master, 'SET', 'fresh', String(i))
        ackedAt[i++] = Date.now()
      } catch {
        // the master is down: the same value again on the next one
      }
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  return {
    get count() {
      return ackedAt.length
    },
    /** How long before `at` the value after `value` was acknowledged (0: not before `at`). */
    staleness(value: number, at: number): number {
      const next = ackedAt[value + 1]
      return next !== undefined && next < at ? at - next : 0
    },
    async stop() {
      running = false
      await done
    },
  }
}

/** Reads `fresh` on `tr.slave` for `ms`: how many, the oldest (ms), those older than the bound (`staleness@node`), the failures. */
async function readFor(tr: TwiceRedis, writes: ReturnType<typeof writeLoop>, ms: number) {
  const tooOld: string[] = []
  const failed: string[] = []
  let reads = 0
  let worst = 0
  const end = Date.now() + ms
  while (Date.now() < end) {
    const sentAt = Date.now()
    try {
      const value = Number(await tr.slave.get('fresh'))
      reads++
      const staleness = writes.staleness(value, sentAt)
      worst = Math.max(worst, staleness)
      if (staleness > bound) tooOld.push(`${staleness}@${tr.slave.node?.address}`)
    } catch (err) {
      failed.push((err as Error).message)
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  return { reads, worst, tooOld, failed }
}

/**
 * Wait until `sentinel` has just read the master's INFO, so that its cached master offset (which a
 * new answer brings into the record) predates what comes next: the record then holds a sample the
 * replicas had caught up with, and nothing newer.
 */
async function afterSentinelRefresh(lab: Lab, sentinel: string): Promise<void> {
  const node = lab.sentinels.find((s) => s.address === sentinel) as LabNode
  let age = Number.POSITIVE_INFINITY
  await until(
    () => age < 300,
    `${sentinel} to refresh its INFO of the master`,
    15_000,
    async () => {
      const cache = await lab.command(node, 'SENTINEL', 'INFO-CACHE', lab.masterName)
      age = masterSampleFromCache(cache, lab.master.port)?.ageMs ?? Number.POSITIVE_INFINITY
    },
  )
}

/** Break every replica's link right after the sentinel `tr` asks first refreshed, and wait `brokenMs`. */
async function breakAll(lab: Lab, tr: TwiceRedis): Promise<void> {
  await afterSentinelRefresh(lab, tr.sentinels[0] as string)
  for (const replica of lab.replicas) await lab.breakReplicaLink(replica, { wait: false })
  await new Promise((r) => setTimeout(r, brokenMs))
}

/** The reads' figures as a diagnostic, and none of them older than the bound. */
function withinBound(t: TestContext, { reads, worst, tooOld }: Awaited<ReturnType<typeof readFor>>): void {
  t.diagnostic(
    `${reads} reads, the oldest ${worst} ms, ${tooOld.length} older than ${bound} ms: ${tooOld.slice(0, 5).join(' ')}`,
  )
  assert.equal(tooOld.length, 0, `reads older than ${bound} ms (ms@replica): ${tooOld.slice(0, 5).join(' ')}`)
}

describe('maxStalenessMs across gaps in the record of the master', { concurrency: 1 }, () => {
  it('a process started while the links are broken serves no read older than the bound', (t) =>
    withLab(async (lab, open) => {
      const writes = writeLoop(lab)
      try {
        await until(() => writes.count > 20, 'writes')
        const tr = open(options)
        await breakAll(lab, tr)
        const read = await readFor(tr, writes, 1500)
        assert.deepEqual(read.failed, [])
        withinBound(t, read)
        // topology() shows how long their links have been down (5 s by now), not the record's length.
        const record = 2 * (maxStalenessMs + healthCheckIntervalMs)
        const shown = (await tr.topology()).replicas.map((r) => r.stalenessMs ?? 0)
        t.diagnostic(`topology() estimates: ${shown.join(', ')} ms`)
        assert.ok(
          shown.length === 2 && shown.every((ms) => ms > record),
          `estimates ${shown.join(', ')} ms, the record ${record} ms`,
        )
      } finally {
        await writes.stop()
      }
    }))

  it('a read side back from an idle timeout serves no read older than the bound', (t) =>
    withLab(async (lab, open) => {
      const writes = writeLoop(lab)
      try {
        await until(() => writes.count > 20, 'writes')
        const tr = open({ ...options, idleTimeoutMs: 300 })
        await tr.slave.get('fresh')
        await until(() => tr.slave.status === 'end', 'the read side to close for idleness', 5000)
        await breakAll(lab, tr)
        const read = await readFor(tr, writes, 1500)
        assert.deepEqual(read.failed, [])
        withinBound(t, read)
      } finally {
        await writes.stop()
      }
    }))

  it('after a master kill, reads do not move to a replica whose link broke before it', (t) =>
    withLab(async (lab, open) => {
      const writes = writeLoop(lab)
      const [broken, healthy] = lab.replicas as [LabNode, LabNode]
      try {
        await until(() => writes.count > 20, 'writes')
        const tr = open(options)
        await tr.slave.get('fresh')
        // Never promoted: a sentinel starved of CPU may otherwise start a failover of its own and
        // promote it (Sentinel takes a replica whose link is down for less than 10 x
        // down-after-milliseconds), and a master that lost every write since is no stale replica.
        // (Seen once in 8 runs beside two busy loops: one sentinel named it master, ROLE master.)
        await lab.command(broken, 'CONFIG', 'SET', 'replica-priority', '0')
        await lab.waitFor(10_000, 'the sentinels to see replica-priority 0', async () => {
          for (const sentinel of lab.sentinels) {
            const replicas = (await lab.command(sentinel, 'SENTINEL', 'REPLICAS', lab.masterName)) as string[][]
            const mine = replicas.find((r) => r[r.indexOf('name') + 1] === broken.address)
            if (mine?.[mine.indexOf('slave-priority') + 1] !== '0') return undefined
          }
          return true
        })
        await lab.breakReplicaLink(broken, { wait: false })
        await new Promise((r) => setTimeout(r, brokenMs))
        await until(
          () => tr.slave.node?.address === healthy.address,
          'reads on the healthy replica',
          10_000,
          async () => {
            await tr.slave.get('fresh')
          },
        )
        await lab.kill(lab.master)
        const elected = await lab.waitForNewMaster()
        assert.equal(elected.address, healthy.address, 'the sentinels promote the replica that kept up')
        const read = await readFor(tr, writes, 2500)
        if (read.failed.length > 0) t.diagnostic(`failed: ${read.failed.slice(0, 3).join('; ')}`)
        withinBound(t, read)
      } finally {
        await writes.stop()
      }
    }))
})
