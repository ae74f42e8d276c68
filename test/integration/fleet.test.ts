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

  it('counts each process: its watch listens already, so a failover costs a discovery or two', async () => {
    const run = await runFleet({ client: 'twiceredis', processes: 2, perProcess: 3 })
    assert.equal(run.opened.length, 3, 'one count per sentinel')
    const total = run.opened.reduce((a, b) => a + b, 0)
    // The watch's subscriptions are in place before the failover (failoverDetection: 'always'); the
    // switch is announced, so retries ask no sentinel: at most a discovery or two per process, and
    // a 3 s poll on a loaded machine. Retries that polled the sentinels would open 10 or more.
    assert.ok(total <= 2 * 5, `sentinel connections: ${run.opened.join('/')}`)
    assert.equal(run.backMs.length, 6, 'every client wrote again')
    assert.equal(run.learnedMs.length, 2, 'every process learned the switch')
    assert.equal(run.failed, 0)
    assert.ok(Number.isFinite(run.memoryPerInstance.heapBytes))
  })
})
