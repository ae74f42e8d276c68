import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { TwiceRedis } from '../../src/index.js'
import { startLab } from '../../src/lab/index.js'
import { forwarder } from '../helpers/forwarder.js'
import { labPerFile } from '../helpers/lab.js'

/**
 * Nodes announced by name, as Kubernetes charts run Sentinel (`resolve-hostnames`,
 * `announce-hostnames`, `replica-announce-ip`): the sentinels name every node and each other
 * `localhost`, never 127.0.0.1.
 */
describe('nodes announced by host name', () => {
  const f = labPerFile({ hostnames: true, replicas: 2 })
  const named = /^localhost:\d+$/

  it('discovers, checks roles and shares what it learns by name', async () => {
    const tr = f.open()
    assert.equal(await tr.master.set('named', 'yes'), 'OK')
    await tr.master.wait(2, 2000)
    assert.equal(await tr.slave.get('named'), 'yes')
    assert.match(tr.master.node!.address, named)
    assert.equal(tr.master.node!.role, 'master')
    assert.match(tr.slave.node!.address, named)
    assert.equal(tr.slave.node!.role, 'replica', 'the role check passed against a named replica')
    const topology = await tr.topology()
    assert.match(topology.master?.address ?? '', named)
    assert.equal(topology.replicas.filter((r) => r.eligible).length, 2)
    // The sentinels' own list (SENTINEL SENTINELS) is by name too: no one is learned twice.
    assert.deepEqual(tr.sentinels.sort(), f.lab.sentinels.map((s) => s.address).sort())
  })

  it('allowedNodes compares names as names, after natMap', async () => {
    const ok = f.open({ allowedNodes: ['localhost'] })
    assert.equal(await ok.master.get('named'), 'yes')
    assert.equal(await ok.slave.get('named'), 'yes')

    // A name is never looked up to match a CIDR block: 127.0.0.0/8 does not admit "localhost".
    const byAddress = f.open({ allowedNodes: ['127.0.0.0/8'], maxRetriesPerRequest: 0 })
    await assert.rejects(byAddress.master.get('named'), { code: 'NODE_NOT_ALLOWED' })
    const cluster = f.open({ allowedNodes: ['*.redis.svc.cluster.local'], maxRetriesPerRequest: 0 })
    await assert.rejects(cluster.master.get('named'), { code: 'NODE_NOT_ALLOWED' })

    // natMap from the announced names to addresses: allowedNodes judges where the socket goes.
    const natMap = Object.fromEntries(f.lab.dataNodes.map((n) => [n.address, { host: '127.0.0.1', port: n.port }]))
    const mapped = f.open({ natMap, allowedNodes: ['127.0.0.1'] })
    assert.equal(await mapped.master.get('named'), 'yes')
    assert.equal(await mapped.slave.get('named'), 'yes')
    assert.match(mapped.slave.node!.address, named, 'the announced name stays the address')
  })

  it('follows a failover announced by name', async () => {
    const tr = f.open()
    await tr.master.set('before', '1')
    const old = f.lab.master
    // Not events.once(): it would also take the connection errors of the outage as a rejection.
    const changed = new Promise<{ to: string }>((resolve) => tr.once('master-changed', resolve))
    await f.lab.kill(old)
    const next = await f.lab.waitForNewMaster()
    const event = await changed
    assert.equal(event.to, next.address)
    assert.match(event.to, named)
    assert.equal(await tr.master.set('after', '1'), 'OK')
    assert.equal(tr.master.node!.address, next.address)
  })
})

describe('TLS with nodes announced by name', () => {
  it('checks each certificate against the announced name, also through natMap', async () => {
    // The certificates name "localhost" only: a client that checks against where it connects fails.
    const lab = await startLab({ hostnames: true, tls: true, replicas: 1, sentinels: 2, quorum: 1 })
    const ca = lab.tls!.ca
    const forwarders = await Promise.all(lab.dataNodes.map((n) => forwarder(n, '127.0.0.2')))
    const direct = new Redis({ host: '127.0.0.1', port: lab.master.port, tls: { ca }, retryStrategy: () => null })
    const refused = once(direct, 'error')
    const natted = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, {
      sentinelTls: { ca },
      tls: { ca },
      natMap: Object.fromEntries(lab.dataNodes.map((n, i) => [n.address, forwarders[i]!])),
      maxRetriesPerRequest: 1,
    })
    try {
      const [error] = await refused
      assert.match(String(error), /IP: 127\.0\.0\.1 is not in the cert's list/)
      assert.equal(await natted.master.set('tls', 'named'), 'OK')
      await natted.master.wait(1, 2000)
      assert.equal(await natted.slave.get('tls'), 'named')
      assert.ok(
        forwarders.every((fw) => fw.connections > 0),
        'not through the forwarders',
      )
    } finally {
      direct.disconnect()
      await natted.quit()
      await Promise.all(forwarders.map((fw) => fw.close()))
      await lab.stop()
    }
  })
})
