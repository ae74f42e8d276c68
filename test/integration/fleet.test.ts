import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runFleet } from '../../bench/fleet.js'

/**
 * The fleet bench's counting, at a small size (its timings are the bench's business, not a
 * test's): sentinel connections are counted at the sentinels, the harness' own excluded.
 */
describe('the fleet bench', () => {
  it('counts no sentinel connection for clients that never ask a sentinel (the harness is not counted)', async () => {
    const run = await runFleet({ client: 'plain', processes: 2, perProcess: 3 })
    assert.deepEqual(run.opened, [0, 0, 0])
    assert.equal(run.backMs.length, 6)
    assert.equal(run.failed, 0)
  })

  it('counts each process: the 3 subscriptions of its watch, and few discoveries', async () => {
    const run = await runFleet({ client: 'twiceredis', processes: 2, perProcess: 3 })
    assert.equal(run.opened.length, 3, 'one count per sentinel')
    const total = run.opened.reduce((a, b) => a + b, 0)
    // 3 + 1 or 2 per process in a 2 s failover (the bench's figure); a slow election on a loaded
    // machine adds a 3 s poll or two. Retries that polled the sentinels would open 10 or more.
    assert.ok(total >= 2 * 3 && total <= 2 * 8, `sentinel connections: ${run.opened.join('/')}`)
    assert.ok(
      run.opened.every((n) => n >= 2),
      `each process subscribes to every sentinel: ${run.opened.join('/')}`,
    )
    assert.equal(run.backMs.length, 6, 'every client wrote again')
    assert.equal(run.learnedMs.length, 2, 'every process learned the switch')
    assert.equal(run.failed, 0)
    assert.ok(Number.isFinite(run.memoryPerInstance.heapBytes))
  })
})
