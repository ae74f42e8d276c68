import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import type { TwiceRedis, TwiceRedisEvents } from '../../src/index.js'
import type { Lab, LabOptions } from '../../src/lab/index.js'
import { fakeServer } from '../helpers/fake-sentinel.js'
import { withLab } from '../helpers/lab.js'
import { startWriters } from '../helpers/writers.js'

type Unfence = TwiceRedisEvents['write-unfence'][0]

const WRITERS = 10

/** Sentinel's own `info-period` (10 s): the window in which a replaced master still answers as one. */
const PRODUCTION: LabOptions = { sentinelInfoPeriodMs: 10_000 }

/**
 * Writers on `tr.master` through `fault`: every acknowledged `INCR` must be on the master that
 * ends up serving, none may fail, and the fence must have let the writes go to it.
 */
async function noWriteLost(
  lab: Lab,
  tr: TwiceRedis,
  fault: () => Promise<void>,
  { inFlight = 0 } = {},
): Promise<{ unfenced: Unfence[]; fenced: number }> {
  const unfenced: Unfence[] = []
  let fenced = 0
  tr.on('write-fence', () => fenced++)
  tr.on('write-unfence', (e) => unfenced.push(e))
  await tr.master.set('counter', 0)
  const writers = startWriters(tr.master, 'counter', WRITERS)
  await sleep(300)
  const old = lab.master
  await fault()
  const master = await lab.waitForNewMaster(30_000)
  await sleep(300) // writes go on against the new master (and whatever still answers as one)
  const report = await writers.stop()
  const final = Number(await lab.command(master, 'GET', 'counter'))
  const detail = inspect({ report, final, old: old.address, master: master.address, unfenced })
  assert.deepEqual(report.failed, {}, `no command failed: ${detail}`)
  assert.ok(report.acked > 1000, `writers wrote: ${detail}`)
  assert.ok(final >= report.acked, `every acknowledged write is on the new master: ${detail}`)
  // Once each, but for writes in flight when the master stopped answering: ioredis resends what was
  // not answered over the next connection, so one that was applied before the stop runs twice.
  assert.ok(final <= report.acked + inFlight, `no write applied twice: ${detail}`)
  assert.equal(fenced, 1, `the fence rose once: ${detail}`)
  assert.equal(unfenced.length, 1, detail)
  assert.equal(unfenced[0]?.to, master.address, `released to the new master: ${detail}`)
  return { unfenced, fenced }
}

describe('no acknowledged write lost when the master is replaced while it is still up', () => {
  it("SENTINEL FAILOVER, with the sentinels' default INFO period: writes held from +try-failover, released to the promoted replica in order", async () => {
    await withLab(async (lab, open) => {
      const tr = open()
      await tr.master.ping()
      // Commands sent while the fence stands are held in the order sent.
      const order: Promise<unknown>[] = []
      tr.once('write-fence', () => {
        for (let i = 0; i < 50; i++) order.push(tr.master.rpush('order', i))
      })
      const { unfenced } = await noWriteLost(lab, tr, () => lab.failover())
      await Promise.all(order)
      assert.deepEqual(await tr.master.lrange('order', 0, -1), [...Array(50).keys()].map(String))
      assert.ok(unfenced[0]!.held >= 50, inspect(unfenced))
      assert.match(unfenced[0]!.reason, /promoted|\+promoted-slave|\+switch-master/)
    }, PRODUCTION)
  })

  it('sentinels cut off from a live master (restored later), with the default INFO period', async () => {
    await withLab(async (lab, open) => {
      const tr = open()
      await tr.master.ping()
      const old = lab.master
      try {
        await noWriteLost(lab, tr, () => lab.cutOffSentinels(old))
      } finally {
        await lab.restoreSentinels(old)
      }
    }, PRODUCTION)
  })

  it('a master paused past down-after-milliseconds, then resumed', async () => {
    await withLab(async (lab, open) => {
      const tr = open()
      await tr.master.ping()
      const old = lab.master
      let resumed: Promise<void> | undefined
      try {
        await noWriteLost(
          lab,
          tr,
          async () => {
            lab.pause(old)
            resumed = sleep(4000).then(() => lab.resume(old))
          },
          { inFlight: WRITERS },
        )
      } finally {
        await resumed
      }
    })
  })

  it('a failover that is called off lets held writes go to the same master; quit() and disconnect() during the fence settle every held command', async () => {
    await withLab(async (lab, open) => {
      const tr = open()
      const other = open()
      const quitting = open()
      await Promise.all([tr.master.set('counter', 0), other.master.ping(), quitting.master.ping()])
      const old = lab.master
      const writers = startWriters(tr.master, 'counter', 4)
      const fenced = once(tr, 'write-fence')
      const unfenced = once(tr, 'write-unfence') as Promise<[Unfence]>
      // The leader picks a replica that then never answers SLAVEOF NO ONE: after failover-timeout it
      // gives up (-failover-abort-slave-timeout) and the master stays.
      for (const replica of lab.replicas) lab.pause(replica)
      const held: Promise<unknown>[] = []
      try {
        await lab.failover()
        await fenced
        held.push(other.master.set('during', 'x'))
        other.master.disconnect()
        held.push(other.master.incr('after-disconnect'))
        // (Handled at once: the application's own rejection would otherwise be unhandled, as it should.)
        const dropped = assert.rejects(quitting.master.set('dropped', 'x'), { code: 'CLIENT_CLOSED' })
        await sleep(10) // the quitting client saw the fence too
        await quitting.quit()
        await dropped
        const [release] = await unfenced
        assert.match(release.reason, /^-failover-abort-/)
        assert.equal(release.to, old.address)
      } finally {
        for (const replica of lab.replicas) lab.resume(replica)
      }
      assert.deepEqual(await Promise.all(held), ['OK', 1])
      const report = await writers.stop()
      assert.deepEqual(report.failed, {})
      const final = Number(await lab.command(old, 'GET', 'counter'))
      assert.ok(final >= report.acked, inspect({ report, final }))
      assert.equal(await lab.waitForMaster(), old, 'no switch happened')
    })
  })

  it('a MULTI sent command by command across the fence is refused whole (TRANSACTION_ABORTED), never half applied', async () => {
    await withLab(async (lab, open) => {
      const tr = open()
      await tr.master.set('warm', '1')
      const old = lab.master
      assert.equal(await tr.master.multi({ pipeline: false }), 'OK')
      assert.equal(await tr.master.rpush('tx', 'a'), 'QUEUED')
      const fenced = once(tr, 'write-fence')
      await lab.failover()
      await fenced
      const rest = [tr.master.rpush('tx', 'b'), tr.master.exec()].map((p) =>
        p.then(
          () => 'sent',
          (e: { code?: string }) => e.code,
        ),
      )
      const after = tr.master.rpush('after', 'c')
      assert.deepEqual(await Promise.all(rest), ['TRANSACTION_ABORTED', 'TRANSACTION_ABORTED'])
      assert.equal(await after, 1, 'what follows the transaction runs')
      const master = await lab.waitForNewMaster()
      assert.notEqual(master, old)
      assert.equal(tr.master.node?.address, master.address)
      assert.deepEqual(await tr.master.lrange('tx', 0, -1), [], 'nothing of the transaction applied')
      // An upper-case MULTI is a MULTI too, and a transaction after the switch runs as usual.
      assert.equal(await tr.master.call('MULTI'), 'OK')
      await tr.master.call('RPUSH', 'tx', 'z')
      assert.deepEqual(await tr.master.call('EXEC'), [1])
    })
  })

  it('after failoverFenceMs, held writes go where the sentinels then say', async () => {
    await withLab(async (lab, open) => {
      const tr = open({ failoverFenceMs: 500 })
      const published: unknown[] = []
      const listener = (message: unknown) => published.push(message)
      subscribe('twiceredis:write-unfence', listener)
      await tr.master.set('k', 'before')
      const old = lab.master
      const unfenced = once(tr, 'write-unfence') as Promise<[Unfence]>
      for (const replica of lab.replicas) lab.pause(replica)
      try {
        await lab.failover()
        await once(tr, 'write-fence')
        const write = tr.master.set('k', 'held')
        const [release] = await unfenced
        assert.equal(release.reason, 'timeout')
        assert.equal(release.to, old.address)
        assert.equal(await write, 'OK')
        assert.deepEqual(published, [{ masterName: lab.masterName, ...release }], 'on the diagnostics channel too')
      } finally {
        unsubscribe('twiceredis:write-unfence', listener)
        for (const replica of lab.replicas) lab.resume(replica)
      }
    })
  })

  it('a sentinel that answers the subscription with garbage costs its connection, never the process', async () => {
    await withLab(async (lab) => {
      const garbage: unknown[] = [42, null, { raw: '*2\r\n$-1\r\n:1\r\n' }, ['pmessage', 'p']]
      const liars = await Promise.all(
        garbage.map((reply) =>
          fakeServer(([command, sub]) => {
            if (command?.toUpperCase() !== 'SENTINEL') return reply as never
            if (sub?.toUpperCase() === 'GET-MASTER-ADDR-BY-NAME') return [lab.master.host, String(lab.master.port)]
            return []
          }),
        ),
      )
      const { TwiceRedis } = await import('../../src/index.js')
      const tr = new TwiceRedis(
        lab.masterName,
        liars.map((l) => l.address),
      )
      try {
        assert.equal(await tr.master.set('k', 'v'), 'OK')
        await sleep(1200) // the watch subscribes, is refused, and tries again
        assert.equal(await tr.master.get('k'), 'v')
        for (const liar of liars) {
          assert.ok(
            liar.received.some(([c]) => c?.toUpperCase() === 'PSUBSCRIBE'),
            liar.address,
          )
        }
      } finally {
        await tr.quit()
        await Promise.all(liars.map((l) => l.close()))
      }
    })
  })

  it("'always' holds one sentinel connection per sentinel per process, whatever the number of instances; 'outage' none at rest", async () => {
    await withLab(async (lab, open) => {
      const atRest = async () => {
        let total = 0
        for (const s of lab.sentinels) total += await lab.clientConnections(s)
        return total
      }
      const always = Array.from({ length: 5 }, () => open())
      await Promise.all(always.map((tr) => tr.master.ping()))
      await Promise.all(always.map((tr) => tr.slave.ping()))
      await sleep(100)
      assert.equal(await atRest(), lab.sentinels.length)
      await Promise.all(always.map((tr) => tr.quit()))
      const outage = Array.from({ length: 5 }, () => open({ failoverDetection: 'outage' }))
      await Promise.all(outage.map((tr) => tr.master.ping()))
      await sleep(100)
      assert.equal(await atRest(), 0)
    })
  })
})
