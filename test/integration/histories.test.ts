// Replication histories (master_replid): a replica at the same master address but on another
// history does not show a floor, however far its offset; tokens say their history.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { LabNode } from '../../src/lab/index.js'
import { parseInfo } from '../../src/protocol/node-info.js'
import { labPerFile } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

describe('replication histories', () => {
  const fx = labPerFile({ downAfterMs: 3000 })
  let leaverDown = false

  it('a replica of the old master with a larger offset does not serve a read after a write on a new history at the same address', async () => {
    const lab = fx.lab
    const old = lab.master
    const [replica, leaver] = lab.replicas as [LabNode, LabNode]
    await lab.command(old, 'SET', 'history', 'old')
    await lab.waitForReplication()
    // The sentinels must not turn it back into a replica while the test runs.
    await lab.cutOffSentinels(leaver)
    try {
      await lab.command(leaver, 'REPLICAOF', 'NO', 'ONE') // a new history, from the same data
      // The old master goes on: its replica's offset passes the leaver's.
      await lab.command(old, 'SET', 'filler', 'x'.repeat(4096))
      await lab.waitForReplication()
      const offsetOf = async (n: LabNode, field: string) =>
        Number(parseInfo(String(await lab.command(n, 'INFO', 'replication')))[field])
      // The write side reaches the leaver under the old master's address (a pod restarted behind the same name).
      const tr = fx.open({
        natMap: { [old.address]: { host: leaver.host, port: leaver.port } },
        consistency: 'session',
        consistencyTimeoutMs: 300,
      })
      await tr.master.set('history', 'new')
      const written = await offsetOf(leaver, 'master_repl_offset')
      assert.ok((await offsetOf(replica, 'slave_repl_offset')) > written, 'the replica is past the write by offset')
      await tr.slave.ping()
      assert.equal(tr.slave.node?.address, replica.address)
      assert.equal(await tr.slave.get('history'), 'new')
      // A token of the new history holds another process' reads the same way.
      const token = await tr.writeToken()
      assert.match(token, /^ryw2:[0-9a-f]{40}:\d+$/)
      const reader = fx.open({ natMap: { [old.address]: { host: leaver.host, port: leaver.port } } })
      reader.readAfter(token)
      assert.equal(await reader.slave.get('history'), 'new')
      // maxStalenessMs: the replica's offset is past the master's, but on a history the master's is not.
      // (The sentinels, cut off from the leaver, no longer offer it as a replica: `replica` is the only one.)
      await until(
        () => leaverDown,
        'the sentinels to flag the leaver down',
        20_000,
        async () => {
          const views = [...(await lab.sentinelReplicas()).values()]
          leaverDown = views.every((rs) => rs.find((r) => r.address === leaver.address)?.flags.includes('s_down'))
        },
      )
      const bounded = fx.open({
        natMap: { [old.address]: { host: leaver.host, port: leaver.port } },
        maxStalenessMs: 400,
        healthCheckIntervalMs: 200,
        readFallback: true,
      })
      const rejected = new Promise<string>((resolve) =>
        bounded.on('node-rejected', (e) => e.address === replica.address && resolve(e.reason)),
      )
      await bounded.slave.ping()
      assert.equal(await rejected, 'on another replication history than the master')
      // Known now to be on another history, it is not chosen again: with no other replica, reads fall back.
      assert.equal(await bounded.slave.get('history'), 'new')
      assert.equal(bounded.slave.node?.role, 'master')
    } finally {
      leaverDown = false
      await lab.command(leaver, 'REPLICAOF', old.host, old.port)
      await lab.restoreSentinels(leaver)
    }
  })
})
