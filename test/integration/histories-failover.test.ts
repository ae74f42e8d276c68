// After a failover the replicas of the new master continue the old history (PSYNC with replid2):
// once they have resynced, session reads (read-your-writes) are served by them, not moved to the
// master because their history or their master's address changed. Counted by `read-from-master`
// events, not timed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Lab } from '../../src/lab/index.js'
import { parseInfo } from '../../src/protocol/node-info.js'
import { withLab } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

const READS = 200

/** A session's reads right after its writes, once the replicas of the master `fault` elects have resynced. */
function sessionReadsAfter(fault: (lab: Lab) => Promise<void>, replicasAfter: number, report: (s: string) => void) {
  return withLab(async (lab, open) => {
    // maxStalenessMs too: its estimate must not take the new master's replicas for another history.
    const tr = open({ consistency: 'session', maxStalenessMs: 1000, healthCheckIntervalMs: 100 })
    await tr.master.set('hf', 'before')
    assert.equal(await tr.slave.get('hf'), 'before')
    await fault(lab)
    const elected = await lab.waitForNewMaster()
    // Resynced: every replica the new master should have is connected to it and has its writes.
    let connected = 0
    await until(
      () => connected >= replicasAfter,
      `${replicasAfter} replica(s) connected to the new master`,
      30_000,
      async () => {
        connected = Number(parseInfo(String(await lab.command(elected, 'INFO', 'replication'))).connected_slaves)
      },
    )
    await lab.waitForReplication(15_000)
    // The write side follows the new master (a write succeeds there), and the read side is on a replica.
    await until(
      () => tr.master.node?.address === elected.address && tr.slave.node?.role === 'replica',
      'both sides on the new topology',
      30_000,
      async () => {
        await tr.master.set('hf', 'settle')
        await tr.slave.get('hf')
      },
    ).catch(async (error: Error) => {
      // (Failed 2 of ~9 runs on 2026-12-07, cause not found yet: say where everything was.)
      const topology = await tr.topology().catch(() => undefined)
      const replicas = topology?.replicas.map((r) => `${r.address} ${r.eligible ? 'eligible' : r.reason}`)
      const sides = `master side on ${tr.master.node?.address}, read side on ${tr.slave.node?.address} (${tr.slave.node?.role})`
      throw new Error(
        `${error.message}: elected ${elected.address}, sentinels' master ${topology?.master?.address}; ${sides}; replicas: ${replicas?.join('; ')}`,
        { cause: error },
      )
    })
    let moved = 0
    const reasons = new Set<string>()
    tr.on('read-from-master', (e) => {
      moved++
      reasons.add(e.reason)
    })
    const rejected: string[] = []
    tr.on('node-rejected', (e) => e.side === 'replica' && rejected.push(`${e.address} ${e.reason}`))
    for (let i = 0; i < READS; i++) {
      await tr.master.set('hf', String(i))
      assert.equal(await tr.slave.get('hf'), String(i), 'a read saw the write before it')
    }
    report(`${moved} of ${READS} reads after writes moved to the master`)
    assert.ok(moved <= READS * 0.05, `${moved} of ${READS} reads moved to the master: ${[...reasons].join('; ')}`)
    assert.equal(tr.slave.node?.role, 'replica')
    assert.deepEqual(rejected, [])
  })
}

describe('session reads after a failover', { concurrency: 1 }, () => {
  it('SENTINEL FAILOVER: once resynced, at least 95 % of the reads after writes are served by replicas', (t) =>
    sessionReadsAfter(
      (lab) => lab.failover(),
      2,
      (s) => t.diagnostic(s),
    ))

  it('a killed master: once resynced, at least 95 % of the reads after writes are served by replicas', (t) =>
    sessionReadsAfter(
      (lab) => lab.kill(lab.master),
      1,
      (s) => t.diagnostic(s),
    ))
})
