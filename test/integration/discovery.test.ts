import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TwiceRedisOptions } from '../../src/index.js'
import { labPerFile } from '../helpers/lab.js'

// Sentinels here refresh INFO every 10 s, as in production: what they report lags what the
// nodes themselves say, which is what the role check after connecting is for.
describe('discovery as the Sentinel client guidelines ask', () => {
  const fx = labPerFile({ sentinels: 3, sentinelInfoPeriodMs: 10_000 }, async (lab) => {
    for (const node of lab.dataNodes) {
      await lab.command(node, 'ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', '&*', '+@all')
    }
    for (const sentinel of lab.sentinels) {
      await lab.command(sentinel, 'ACL', 'SETUSER', 'watcher', 'on', '>watch-secret', '+@all')
      // A user that may ask where the master is but not list the replicas.
      await lab.command(sentinel, 'ACL', 'SETUSER', 'partial', 'on', '>partial-secret', '+@all', '-sentinel|replicas')
    }
  })
  const open = (options: TwiceRedisOptions = {}) => fx.open(options)

  it('shuffles the sentinel list per instance', () => {
    const orders = new Set(Array.from({ length: 30 }, () => open().sentinels.join(',')))
    assert.ok(orders.size > 1, 'every instance tried the sentinels in the same order')
  })

  it('moves the first sentinel that answers to the front, past a dead one', async () => {
    const tr = open()
    const [dead] = tr.sentinels
    const node = fx.lab.node(dead!)!
    await fx.lab.kill(node)
    const unreachable: { sentinel: string }[] = []
    tr.on('sentinel-unreachable', (e) => unreachable.push(e))
    try {
      await tr.master.ping()
      assert.deepEqual(
        unreachable.map((e) => e.sentinel),
        [dead],
      )
      assert.notEqual(tr.sentinels[0], dead)
      assert.equal(tr.sentinels.length, 3)
    } finally {
      await fx.lab.restart(node)
    }
  })

  it('refuses a replica whose own INFO shows its link down, even while sentinels still say ok', async () => {
    const [broken, healthy] = fx.lab.replicas
    await fx.lab.breakReplicaLink(broken!, { wait: false })
    try {
      let rejected: { address: string; reason: string } | undefined
      for (let i = 0; i < 50 && !rejected; i++) {
        const tr = open()
        tr.on('node-rejected', (e) => {
          rejected = e
        })
        await tr.slave.get('k')
        assert.equal(tr.slave.node?.address, healthy!.address)
      }
      assert.deepEqual(rejected && { ...rejected }, {
        side: 'replica',
        address: broken!.address,
        reason: 'master link down',
      })
    } finally {
      await fx.lab.restoreReplicaLink(broken!, { wait: false })
    }
  })

  it('authenticates as an ACL user on the data nodes and on the sentinels, and selects the database', async () => {
    const tr = open({
      username: 'app',
      password: 'app-secret',
      sentinelUsername: 'watcher',
      sentinelPassword: 'watch-secret',
      db: 3,
    })
    await tr.master.set('in-db-3', 'yes')
    assert.deepEqual(await tr.master.acl('WHOAMI'), 'app')
    const wrong = open({ sentinelUsername: 'watcher', sentinelPassword: 'not-it' })
    await assert.rejects(wrong.master.ping(), { code: 'AUTH_FAILED', target: 'sentinel' })
    assert.equal(await fx.lab.command(fx.lab.master, 'EXISTS', 'in-db-3'), 0)
    await tr.master.wait(2, 2000)
    assert.equal(await tr.slave.get('in-db-3'), 'yes')
  })

  it('a client refused by the sentinels leaves no unhandled rejection behind (ioredis 5 re-subscribes)', async () => {
    const seen: unknown[] = []
    const listener = (error: unknown) => seen.push(error)
    process.on('unhandledRejection', listener)
    try {
      const wrong = open({ sentinelUsername: 'watcher', sentinelPassword: 'not-it' })
      await assert.rejects(wrong.master.ping(), { code: 'AUTH_FAILED', target: 'sentinel' })
      await sleep(2000) // the failover watch's subscriptions retry every 500 ms meanwhile
      await wrong.quit()
      await sleep(100)
    } finally {
      process.off('unhandledRejection', listener)
    }
    assert.deepEqual(seen, [])
  })

  it('says why, when a sentinel answers for the master but cannot list the replicas', async () => {
    const tr = open({ sentinelUsername: 'partial', sentinelPassword: 'partial-secret' })
    const fallback = new Promise<{ reason: string }>((resolve) => tr.once('fallback-to-master', resolve))
    await tr.slave.ping()
    assert.equal(tr.slave.node?.role, 'master')
    assert.match((await fallback).reason, /SENTINEL REPLICAS failed on .*NOPERM/)
    const topology = await tr.topology()
    assert.deepEqual(topology.replicas, [])
    assert.match(topology.replicasError ?? '', /NOPERM/)
    const strict = open({ sentinelUsername: 'partial', sentinelPassword: 'partial-secret', readFallback: false })
    await assert.rejects(strict.slave.ping(), { code: 'NO_HEALTHY_REPLICA', message: /SENTINEL REPLICAS failed/ })
  })

  it('passes ioredis options through, shared and per side', async () => {
    const tr = open({
      redisOptions: { keyPrefix: 'app:' },
      masterOptions: { connectionName: 'writer' },
      replicaOptions: { connectionName: 'reader' },
    })
    await tr.master.set('prefixed', '1')
    assert.equal(await fx.lab.command(fx.lab.master, 'GET', 'app:prefixed'), '1')
    assert.equal(await tr.master.client('GETNAME'), 'writer')
    assert.equal(await tr.slave.client('GETNAME'), 'reader')
  })
})
