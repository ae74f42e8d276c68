// A hostile network: a sentinel that names nodes elsewhere gets nothing with `allowedNodes`.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TwiceRedis, type TwiceRedisEvents } from '../../src/index.js'
import { fakeServer } from '../helpers/fake-sentinel.js'
import { withLab } from '../helpers/lab.js'

/** A sentinel that names `master` as the master of `mymaster`, with no replicas. */
const lyingSentinel = (master: { host: string; port: number }) =>
  fakeServer(([command, sub]) => {
    if (command?.toUpperCase() !== 'SENTINEL') return new Error('ERR unknown command')
    if (sub?.toUpperCase() === 'GET-MASTER-ADDR-BY-NAME') return [master.host, String(master.port)]
    return []
  })

describe('allowedNodes', () => {
  it('a lying sentinel cannot redirect the write side: no connection, no password, a typed error', async () => {
    // Somewhere the application must not send its data or its password (127.0.0.2 is loopback too).
    const elsewhere = await fakeServer(() => 'OK', '127.0.0.2')
    const sentinel = await lyingSentinel(elsewhere)
    const trusting = new TwiceRedis('mymaster', [sentinel.address], 'the-data-password', { maxRetriesPerRequest: 0 })
    const guarded = new TwiceRedis('mymaster', [sentinel.address], 'the-data-password', {
      allowedNodes: ['127.0.0.1/32'],
    })
    try {
      const error = await guarded.master.get('k').catch((e: unknown) => e)
      assert.equal((error as { code?: string }).code, 'NODE_NOT_ALLOWED')
      assert.match((error as Error).message, /127\.0\.0\.2:\d+/)
      assert.doesNotMatch((error as Error).message, /the-data-password/)
      assert.equal(elsewhere.connections, 0, 'connected to a node outside allowedNodes')
      // Without the option the same sentinel gets the password sent there (the threat).
      await trusting.master.get('k').catch(() => {})
      assert.ok(elsewhere.received.some((args) => args.includes('the-data-password')))
    } finally {
      await Promise.all([trusting.quit(), guarded.quit()])
      await Promise.all([sentinel.close(), elsewhere.close()])
    }
  })

  it('is applied after natMap', async () => {
    const sentinel = await lyingSentinel({ host: '10.9.9.9', port: 6379 })
    const tr = new TwiceRedis('mymaster', [sentinel.address], undefined, {
      natMap: { '10.9.9.9:6379': { host: '127.0.0.3', port: 6379 } },
      allowedNodes: ['10.0.0.0/8'], // the announced address is allowed, where natMap sends us is not
    })
    try {
      await assert.rejects(tr.master.get('k'), { code: 'NODE_NOT_ALLOWED' })
    } finally {
      await tr.quit()
      await sentinel.close()
    }
  })

  it('the read side skips replicas outside allowedNodes, with the reason in events and topology()', () =>
    withLab(async (lab, open) => {
      // Every lab node is on 127.0.0.1: natMap sends the replicas to a name outside the list.
      const replicas = new Set(lab.replicas.map((r) => r.address))
      const guarded = open({
        allowedNodes: ['127.0.0.1/32', '*.allowed.test'],
        natMap: (address) => (replicas.has(address) ? { host: 'replica.elsewhere.test', port: 6379 } : null),
      })
      const rejected: TwiceRedisEvents['node-rejected'][0][] = []
      guarded.on('node-rejected', (r) => rejected.push(r))
      await guarded.slave.get('k')
      assert.equal(guarded.slave.node?.role, 'master', 'reads fell back to the master')
      assert.deepEqual(
        [...new Set(rejected.map((r) => `${r.address} ${r.reason}`))].sort(),
        [...replicas].map((a) => `${a} not in allowedNodes`).sort(),
      )
      const topology = await guarded.topology()
      assert.ok(topology.replicas.every((r) => r.reason === 'not in allowedNodes' && !r.eligible))
      // Inside the list, replicas serve reads as usual.
      const plain = open({ allowedNodes: ['127.0.0.0/8'] })
      await plain.slave.get('k')
      assert.equal(plain.slave.node?.role, 'replica')
    }))
})
