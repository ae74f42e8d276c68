import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { Redis } from 'ioredis'
import { NoHealthyReplicaError, type TwiceRedisOptions } from '../../src/index.js'
import { labPerFile, roleOf, sentinelConnectionsReceived } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

const password = 'tötes_passowrd'

describe('TwiceRedis against a real Sentinel lab', () => {
  const fx = labPerFile({ password })
  const open = (options: TwiceRedisOptions = {}) => fx.open({ password, ...options })

  it('runs the seed README examples', async () => {
    const tr = open()
    assert.ok(tr.master instanceof Redis && tr.slave instanceof Redis)
    assert.equal(tr.write, tr.master)
    assert.equal(tr.read, tr.slave)
    assert.equal(tr.replica, tr.slave)

    assert.equal(await tr.master.set('je mange', 'huehue'), 'OK')
    await tr.master.wait(2, 2000)
    assert.equal(await tr.slave.get('je mange'), 'huehue')
    assert.equal(await tr.read.get('nous mangeons'), null)
    assert.equal(await tr.write.del('je mange'), 1)

    const res = await tr.master.pipeline().set('turle', 'power').set('tr3buchet', 'tötes').exec()
    assert.deepEqual(res, [
      [null, 'OK'],
      [null, 'OK'],
    ])
    await tr.master.wait(2, 2000)

    assert.equal(await tr.slave.get('turle'), 'power')
    tr.slave.disconnect()
    assert.equal(await tr.slave.get('tr3buchet'), 'tötes')

    assert.equal(await tr.master.publish('topic', 'x'), 0)
    tr.disconnect()
    assert.equal(await tr.master.set('some key', 'le totes!'), 'OK')
    await tr.master.wait(2, 2000)
    assert.equal(await tr.slave.get('some key'), 'le totes!')
  })

  it('writes to the master and reads from a replica, as the nodes themselves report', async () => {
    const tr = open()
    await tr.master.ping()
    await tr.slave.ping()
    assert.equal(tr.master.node?.address, fx.lab.master.address)
    assert.equal(await roleOf(fx.lab, tr.master.node!.address), 'master')
    assert.equal(tr.slave.node?.role, 'replica')
    assert.equal(await roleOf(fx.lab, tr.slave.node!.address), 'slave')
    await assert.rejects(tr.slave.set('k', 'v'), /READONLY/)
  })

  it('supports MULTI and pub/sub through the ioredis API', async () => {
    const tr = open()
    const multi = await tr.master.multi().incr('counter').incr('counter').exec()
    assert.equal(multi?.[1]?.[1], (multi?.[0]?.[1] as number) + 1)

    const sub = tr.slave.duplicate()
    const got = new Promise<string>((resolve) => sub.on('message', (_channel, message) => resolve(message)))
    await sub.subscribe('news')
    await tr.master.publish('news', 'hello')
    assert.equal(await got, 'hello')
    await sub.quit()
  })

  it('spreads reads over the healthy replicas across disconnects', async () => {
    const tr = open()
    const seen = new Set<string>()
    for (let i = 0; i < 30 && seen.size < 2; i++) {
      await tr.slave.get('k')
      seen.add(tr.slave.node!.address)
      tr.slave.disconnect()
    }
    assert.deepEqual([...seen].sort(), fx.lab.replicas.map((r) => r.address).sort())
  })

  it('reconnects commands and pipelines issued right after disconnect()', async () => {
    const tr = open()
    await tr.master.ping()
    tr.master.disconnect()
    const [a, b] = await Promise.all([tr.master.set('a', '1'), tr.master.pipeline().get('a').exec()])
    assert.equal(a, 'OK')
    assert.deepEqual(b, [[null, '1']])
  })

  it('holds no sentinel connection per client once idle: one subscription per sentinel for the whole process', async () => {
    const clients = Array.from({ length: 10 }, () => open())
    await Promise.all(clients.map((tr) => tr.master.set('idle', '1')))
    await Promise.all(clients.map((tr) => tr.slave.get('idle')))
    // A query connection is closed once answered, but leaves a sentinel's list only when the
    // sentinel has read its close, which may come after our next query there (seen on Bun).
    for (const s of fx.lab.sentinels) {
      let connections = 0
      await until(
        () => connections === 1,
        `only the subscription on ${s.address}`,
        2000,
        async () => {
          connections = await fx.lab.clientConnections(s)
        },
      )
    }
  })

  it('asks the sentinels once for a crowd of clients connecting at once (no thundering herd)', async () => {
    const crowd = Array.from({ length: 50 }, () => open())
    const before = await sentinelConnectionsReceived(fx.lab)
    await Promise.all(crowd.flatMap((tr) => [tr.master.ping(), tr.slave.ping()]))
    const after = await sentinelConnectionsReceived(fx.lab)
    // `after` counts its own query's connection on each sentinel.
    assert.equal(after - before - fx.lab.sentinels.length, 1)
  })

  it('never reads from a replica whose master link is broken', async () => {
    const [broken, healthy] = fx.lab.replicas
    await fx.lab.breakReplicaLink(broken!)
    try {
      const tr = open()
      for (let i = 0; i < 20; i++) {
        await tr.slave.get('k')
        assert.equal(tr.slave.node?.address, healthy!.address)
        tr.slave.disconnect()
      }
    } finally {
      await fx.lab.restoreReplicaLink(broken!)
    }
  })

  it('falls back to the master when no replica is healthy, or rejects when told not to', async () => {
    await Promise.all(fx.lab.replicas.map((r) => fx.lab.breakReplicaLink(r)))
    try {
      const tr = open()
      const fallback = new Promise((resolve) => tr.once('fallback-to-master', resolve))
      await tr.master.set('fb', 'yes')
      assert.equal(await tr.slave.get('fb'), 'yes')
      assert.equal(((await fallback) as { master: string }).master, fx.lab.master.address)
      assert.equal(tr.slave.node?.address, fx.lab.master.address)

      const strict = open({ readFallback: false })
      const err = await strict.slave.get('fb').catch((e: unknown) => e)
      assert.ok(err instanceof NoHealthyReplicaError, inspect(err))
      assert.equal(err.code, 'NO_HEALTHY_REPLICA')
      assert.match(err.message, /master link err/)
    } finally {
      await Promise.all(fx.lab.replicas.map((r) => fx.lab.restoreReplicaLink(r)))
    }
  })

  it('a read side on the master as a fallback stays there while a WATCH is open on it', async () => {
    await Promise.all(fx.lab.replicas.map((r) => fx.lab.breakReplicaLink(r)))
    const watching = open({ healthCheckIntervalMs: 50 })
    const control = open({ healthCheckIntervalMs: 50 })
    try {
      for (const tr of [watching, control]) await tr.slave.ping()
      assert.equal(watching.slave.node?.address, fx.lab.master.address)
      assert.equal(await watching.slave.watch('fb:w'), 'OK')
    } finally {
      await Promise.all(fx.lab.replicas.map((r) => fx.lab.restoreReplicaLink(r)))
    }
    await until(() => control.slave.node?.role === 'replica', 'the control back on a replica')
    await sleep(200) // four more health checks
    assert.equal(watching.slave.node?.address, fx.lab.master.address, 'moving would lose the WATCH')
    assert.equal(await watching.slave.unwatch(), 'OK')
    await until(() => watching.slave.node?.role === 'replica', 'back on a replica once the WATCH is over')
  })

  it('keeps secrets out of inspect() and events', async () => {
    const tr = open()
    const events: unknown[] = []
    tr.on('resolved', (e) => events.push(e))
    await tr.master.ping()
    assert.doesNotMatch(inspect(tr, { depth: 10 }) + inspect(events, { depth: 10 }), /tötes/)
  })
})
