import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { TwiceRedis, type TwiceRedisOptions } from '../../src/index.js'
import { startLab } from '../../src/lab/index.js'
import { forwarder } from '../helpers/forwarder.js'
import { labPerFile } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

// down-after 5 s: a replica paused for a moment stays "up" for the sentinels, so what excludes
// it below is the policy under test, not s_down.
describe('read routing, freshness and connection economy', () => {
  const fx = labPerFile({ downAfterMs: 5000 })
  const open = (options: TwiceRedisOptions = {}) => fx.open(options)
  /** Where `n` reads land, with a disconnect (so a fresh pick) after each. */
  const reads = async (tr: TwiceRedis, n: number) => {
    const seen: string[] = []
    for (let i = 0; i < n; i++) {
      await tr.slave.get('k')
      seen.push(tr.slave.node!.address)
      tr.slave.disconnect()
    }
    return seen
  }

  it('round-robin alternates between the replicas', async () => {
    const [a, b] = fx.lab.replicas.map((r) => r.address).sort()
    assert.deepEqual(await reads(open({ replicaSelection: 'round-robin' }), 4), [a, b, a, b])
  })

  it("a duplicate's reconnects do not move the read side: tr.slave and a duplicate under round-robin, exactly one replica-changed", async () => {
    const tr = open({ replicaSelection: 'round-robin' })
    const changed: unknown[] = []
    tr.on('replica-changed', (e) => changed.push(e))
    await tr.slave.get('k')
    const copy = tr.slave.duplicate() as typeof tr.slave
    try {
      // Each of the duplicate's connects resolves afresh, to the next replica in its own turn.
      const seen = new Set<string>()
      for (let i = 0; i < 4; i++) {
        await copy.get('k')
        seen.add(copy.node!.address)
        copy.disconnect()
      }
      assert.equal(seen.size, 2)
      await tr.slave.get('k')
      assert.deepEqual(changed, [{ from: undefined, to: tr.slave.node!.address }])
    } finally {
      await copy.quit()
    }
  })

  it("a selection function sees every replica's state and its choice is honoured", async () => {
    const wanted = fx.lab.replicas[1]!.address
    let fields: string[] = []
    const tr = open({
      replicaSelection: (replicas) => {
        fields = Object.keys(replicas[0]!)
        return replicas.find((r) => r.address === wanted)
      },
    })
    assert.deepEqual(await reads(tr, 4), [wanted, wanted, wanted, wanted])
    for (const f of ['address', 'flags', 'linkStatus', 'linkDownMs', 'offset', 'priority', 'eligible']) {
      assert.ok(fields.includes(f), `missing ${f}`)
    }
  })

  it('lowest-latency prefers the replica that answered faster', async () => {
    const [slow, fast] = fx.lab.replicas
    const tr = open({ replicaSelection: 'lowest-latency' })
    fx.lab.pause(slow!)
    // Resume the slow one 300 ms after the client picks it, so its measured round trip is long.
    tr.on('resolved', ({ side, address }) => {
      if (side === 'replica' && address === slow!.address) setTimeout(() => fx.lab.resume(slow!), 300)
    })
    const seen = await reads(tr, 2) // both unknown: each gets measured once
    assert.deepEqual([...seen].sort(), [slow!.address, fast!.address].sort())
    assert.deepEqual(await reads(tr, 5), Array(5).fill(fast!.address))
  })

  it('maxLagBytes excludes a replica held back, and takes it back once it caught up', async () => {
    const [held, other] = fx.lab.replicas
    const tr = open({ maxLagBytes: 100_000 })
    const writer = open()
    fx.lab.pause(held!)
    try {
      const value = 'x'.repeat(100_000)
      for (let i = 0; i < 10; i++) await writer.master.set(`bulk:${i}`, value)
      // Sentinels refresh the master's and each replica's INFO at different moments: wait until
      // they show the held replica behind and the other one caught up.
      await until(
        () => verdict === 'lag',
        'the lag gate to exclude the held-back replica',
        10_000,
        async () => {
          const { replicas } = await tr.topology()
          const h = replicas.find((r) => r.address === held!.address)
          const o = replicas.find((r) => r.address === other!.address)
          verdict = h?.reason?.startsWith('lag ') && o?.eligible ? 'lag' : 'other'
        },
      )
      assert.deepEqual(await reads(tr, 5), Array(5).fill(other!.address))
    } finally {
      fx.lab.resume(held!)
    }
    await until(
      () => verdict === 'eligible',
      'the replica to catch up',
      10_000,
      async () => {
        const replica = (await tr.topology()).replicas.find((r) => r.address === held!.address)
        verdict = replica?.eligible ? 'eligible' : 'other'
      },
    )
    const seen = new Set(await reads(tr, 20))
    assert.ok(seen.has(held!.address), 'the caught-up replica serves reads again')
  })
  let verdict = ''

  it('topology() reports a broken replica with its reason', async () => {
    const broken = fx.lab.replicas[0]!
    await fx.lab.breakReplicaLink(broken)
    try {
      const t = await open().topology()
      const report = t.replicas.find((r) => r.address === broken.address)
      assert.equal(report?.eligible, false)
      assert.equal(report?.reason, 'master link err')
      assert.equal(t.master?.address, fx.lab.master.address)
      assert.equal(t.sentinels.filter((s) => s.reachable).length, 3)
    } finally {
      await fx.lab.restoreReplicaLink(broken)
    }
  })

  it('idleTimeoutMs disconnects an idle side, and the next command reconnects', async () => {
    const tr = open({ idleTimeoutMs: 200, healthCheckIntervalMs: 50 })
    await tr.master.set('idle', '1')
    assert.equal(tr.master.status, 'ready')
    await until(() => tr.master.status === 'end', 'the idle master connection to close', 5_000)
    assert.equal(await tr.master.get('idle'), '1')
    assert.equal(tr.master.status, 'ready')
  })

  it('idleTimeoutMs never drops a connection with a transaction or a WATCH open on it', async () => {
    const tr = open({ idleTimeoutMs: 50 })
    // A WATCH lost with its connection would let EXEC run unguarded on the next one.
    await tr.master.set('idle:w', '1')
    assert.equal(await tr.master.watch('idle:w'), 'OK')
    await sleep(200) // four idle periods
    await open().master.set('idle:w', '2') // another client changes the watched key
    assert.deepEqual(await tr.master.multi().set('idle:w', '3').exec(), null, 'the WATCH still guards the EXEC')
    for (const client of [tr.master, tr.slave]) {
      assert.equal(await client.multi({ pipeline: false }), 'OK')
      assert.equal(await client.call('ECHO', 'queued'), 'QUEUED')
      await sleep(200)
      assert.deepEqual(await client.exec(), [[null, 'queued']], `${client.side} side`)
    }
    await until(() => tr.master.status === 'end' && tr.slave.status === 'end', 'both sides idle again', 5_000)
  })

  it('natMap routes through an address only the map knows', async () => {
    const master = await forwarder(fx.lab.master)
    const replicas = await Promise.all(fx.lab.replicas.map((r) => forwarder(r)))
    try {
      const map = Object.fromEntries([
        [fx.lab.master.address, { host: master.host, port: master.port }],
        ...fx.lab.replicas.map((r, i) => [r.address, { host: replicas[i]!.host, port: replicas[i]!.port }]),
      ])
      const tr = open({ natMap: map })
      assert.equal(await tr.master.set('nat', 'yes'), 'OK')
      assert.equal(tr.master.node?.address, fx.lab.master.address)
      assert.equal(tr.master.node?.port, master.port)
      assert.equal(master.connections, 1)
      await tr.slave.get('nat')
      assert.equal(
        replicas.reduce((n, f) => n + f.connections, 0),
        1,
      )
      await tr.quit()
    } finally {
      await Promise.all([master, ...replicas].map((f) => f.close()))
    }
  })
})

describe('TLS to the sentinels and the data nodes', () => {
  it('works against a lab that only speaks TLS', async () => {
    const lab = await startLab({ tls: true, password: 'pw', replicas: 1, sentinels: 2, quorum: 1 })
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, 'pw', {
      sentinelTls: { ca: lab.tls!.ca },
      redisOptions: { tls: { ca: lab.tls!.ca } },
    })
    try {
      assert.equal(await tr.master.set('tls', 'yes'), 'OK')
      await tr.master.wait(1, 2000)
      assert.equal(await tr.slave.get('tls'), 'yes')
      assert.equal(tr.slave.node?.role, 'replica')
      const plain = new TwiceRedis(lab.masterName, lab.sentinelAddresses, 'pw', { sentinelTimeoutMs: 300 })
      await assert.rejects(plain.master.get('tls'), { code: 'NO_SENTINEL_REACHABLE' })
      await plain.quit()

      // Through natMap to an address the certificate does not name (127.0.0.2): the certificate is
      // checked against the announced node (127.0.0.1), which it names (ioredis#1832's bug).
      const forwarders = await Promise.all(lab.dataNodes.map((n) => forwarder(n, '127.0.0.2')))
      const natted = new TwiceRedis(lab.masterName, lab.sentinelAddresses, 'pw', {
        sentinelTls: { ca: lab.tls!.ca },
        tls: { ca: lab.tls!.ca },
        natMap: Object.fromEntries(lab.dataNodes.map((n, i) => [n.address, forwarders[i]!])),
        maxRetriesPerRequest: 1,
      })
      try {
        assert.equal(await natted.master.get('tls'), 'yes')
        assert.equal(await natted.slave.get('tls'), 'yes')
        assert.ok(
          forwarders.every((f) => f.connections > 0),
          'not through the forwarders',
        )
      } finally {
        await natted.quit()
        await Promise.all(forwarders.map((f) => f.close()))
      }
    } finally {
      await tr.quit()
      await lab.stop()
    }
  })
})
