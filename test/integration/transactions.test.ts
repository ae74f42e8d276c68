// A WATCH lost with its connection (a reconnect, a failover) must not let the transaction it
// guards run unguarded: it is aborted as Redis aborts one whose watched key changed. A MULTI lost
// with its connection must not let the rest of its transaction run outside it.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { dropStream } from '../../src/ioredis-internals.js'
import { cut, labPerFile, withLab } from '../helpers/lab.js'
import { settles } from '../helpers/load.js'

describe('a WATCH lost with its connection', () => {
  const fx = labPerFile()

  it('aborts the transaction it guards (EXEC answers null, nothing applied), however it is sent', async () => {
    const tr = fx.open()
    const other = fx.open()
    const sends: [string, (key: string) => Promise<unknown>][] = [
      ['multi()', (key) => tr.master.multi().set(key, 'mine').exec()],
      [
        'command by command',
        async (key) => {
          assert.equal(await tr.master.multi({ pipeline: false }), 'OK')
          assert.equal(await tr.master.set(key, 'mine'), 'QUEUED')
          return tr.master.exec()
        },
      ],
      [
        'call() in a pipeline',
        async (key) => {
          const replies = await tr.master.pipeline().call('MULTI').set(key, 'mine').call('EXEC').get(key).exec()
          assert.deepEqual(replies?.slice(0, 2), [
            [null, 'OK'],
            [null, 'QUEUED'],
          ])
          assert.deepEqual(replies?.[3], [null, 'theirs'])
          return replies?.[2]?.[1]
        },
      ],
    ]
    for (const [how, send] of sends) {
      const key = `wl:${how}`
      await tr.master.set(key, 'before')
      assert.equal(await tr.master.watch(key), 'OK')
      await cut(tr)
      assert.equal(await tr.master.get(key), 'before', 'the next command reconnects')
      await other.master.set(key, 'theirs') // the lost WATCH would have caught this
      assert.equal(await send(key), null, how)
      assert.equal(await other.master.get(key), 'theirs', `${how}: the concurrent update is kept`)
      // The next transaction is guarded (and run) as usual.
      assert.equal(await tr.master.watch(key), 'OK')
      assert.deepEqual(await tr.master.multi().set(key, 'mine').exec(), [[null, 'OK']], how)
    }
  })

  it('UNWATCH, DISCARD or RESET end it; a WATCH sent again after the loss does not bring it back', async () => {
    const tr = fx.open()
    for (const end of ['unwatch', 'discard', 'reset'] as const) {
      await tr.master.watch('wl:end')
      await cut(tr)
      if (end === 'discard') {
        await tr.master.multi({ pipeline: false })
        await tr.master.discard()
      } else await tr.master.call(end.toUpperCase())
      assert.deepEqual(await tr.master.multi().set('wl:end', end).exec(), [[null, 'OK']], end)
    }
    await tr.master.watch('wl:a')
    await cut(tr)
    await tr.master.watch('wl:b') // on the new connection; wl:a is not watched there
    assert.equal(await tr.master.multi().set('wl:a', 'x').exec(), null)
  })

  it('a MULTI sent command by command across a reconnect is refused whole (TRANSACTION_ABORTED), never half applied', async () => {
    const tr = fx.open()
    await tr.master.del('wl:tx')
    const id = await tr.master.client('ID')
    assert.equal(await tr.master.multi({ pipeline: false }), 'OK')
    assert.equal(await tr.master.rpush('wl:tx', 'a'), 'QUEUED')
    await cut(tr, id)
    const rest = [tr.master.rpush('wl:tx', 'b'), tr.master.exec()].map((p) =>
      p.then(
        () => 'sent',
        (e: { code?: string }) => e.code,
      ),
    )
    assert.deepEqual(await Promise.all(rest), ['TRANSACTION_ABORTED', 'TRANSACTION_ABORTED'])
    assert.deepEqual(await tr.master.lrange('wl:tx', 0, -1), [], 'nothing of it applied')
    assert.deepEqual(await tr.master.multi().rpush('wl:tx', 'z').exec(), [[null, 1]], 'the next one runs')

    // Its rest in a pipeline: refused, and what follows its EXEC there is sent and answered.
    const next = await tr.master.client('ID')
    await tr.master.multi({ pipeline: false })
    await tr.master.rpush('wl:tx', 'c')
    await cut(tr, next)
    const replies = await settles(
      tr.master.pipeline().rpush('wl:tx', 'd').call('EXEC').lrange('wl:tx', 0, -1).exec(),
      'a pipeline with the rest of a lost transaction',
    )
    assert.deepEqual(
      replies?.map(([error, reply]) => (error ? (error as { code?: string }).code : reply)),
      ['TRANSACTION_ABORTED', 'TRANSACTION_ABORTED', ['z']],
    )
  })

  it('a transaction that ioredis writes again after its connection closed unanswered is aborted', async () => {
    const tr = fx.open({ healthCheckIntervalMs: 0 })
    const other = fx.open()
    await tr.master.set('wl:r', 'before')
    assert.equal(await tr.master.watch('wl:r'), 'OK')
    await other.master.set('wl:r', 'theirs') // the WATCH is now dirty: this EXEC must not apply
    const master = fx.lab.master
    fx.lab.pause(master)
    let resumed = false
    try {
      const exec = tr.master.multi().set('wl:r', 'mine').exec()
      await new Promise((r) => setImmediate(r)) // written, unanswered
      dropStream(tr.master) // the connection is lost; ioredis writes the transaction again on the next
      fx.lab.resume(master)
      resumed = true
      assert.equal(await exec, null)
    } finally {
      if (!resumed) fx.lab.resume(master)
    }
    assert.equal(await other.master.get('wl:r'), 'theirs')
  })

  it('a failover that moves the write side aborts the transaction a WATCH on the old master guarded', () =>
    withLab(async (lab, open) => {
      const tr = open()
      await tr.master.set('wl:f', 'before')
      assert.equal(await tr.master.watch('wl:f'), 'OK')
      const old = lab.master
      await lab.failover()
      const master = await lab.waitForNewMaster()
      assert.notEqual(master.address, old.address)
      await open().master.set('wl:f', 'theirs')
      assert.equal(await tr.master.multi().set('wl:f', 'mine').exec(), null)
      assert.equal(tr.master.node?.address, master.address)
      assert.equal(await tr.master.get('wl:f'), 'theirs')
    }))

  it('a transaction the write fence held, guarded by a WATCH on the master it replaced, is aborted', () =>
    withLab(async (lab, open) => {
      const tr = open()
      await tr.master.set('wl:h', 'before')
      assert.equal(await tr.master.watch('wl:h'), 'OK')
      const fenced = once(tr, 'write-fence')
      await lab.failover()
      await fenced
      const exec = tr.master.multi().set('wl:h', 'mine').exec() // held, then sent to the new master
      assert.equal(await exec, null)
      const master = await lab.waitForNewMaster()
      assert.equal(tr.master.node?.address, master.address)
      assert.equal(await tr.master.get('wl:h'), 'before')
    }))

  it('a command ioredis sends again after reconnectOnError (2), behind a multi() whose EXEC is written, is answered as ioredis answers it', async () => {
    // ioredis' reconnect_on_error "should work with pipelined multi": the SADD fails (WRONGTYPE),
    // reconnectOnError deletes the key and asks for a resend; the EXEC's answer is not read yet.
    const tr = fx.open({
      reconnectOnError: () => {
        void tr.master.del('roe:foo')
        return 2
      },
    })
    await tr.master.set('roe:foo', 'bar')
    await tr.master.set('roe:i', 1)
    // ioredis' types have no multi() on a pipeline, nor a pipeline's exec() for its transaction; its code has both.
    type Pipeline = ReturnType<typeof tr.master.pipeline>
    const pipeline = tr.master.pipeline().sadd('roe:foo', 'a') as unknown as { multi(): Pipeline }
    const inTransaction = pipeline.multi().get('roe:foo').incr('roe:i') as unknown as { exec(): Pipeline }
    const replies = await inTransaction.exec().exec()
    assert.deepEqual(replies, [
      [null, 1],
      [null, 'OK'],
      [null, 'QUEUED'],
      [null, 'QUEUED'],
      [null, ['bar', 2]],
    ])
  })
})
