// Issue 27: the two defects the model-based test (model.test.ts, seed 27, path 3) found on main
// after the redesign, each replayed here alone and deterministically against the lab, and a third
// way to the second (a write in flight at a drop during a fence) found while fixing it.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { setImmediate as tick } from 'node:timers/promises'
import type { TwiceRedisClient } from '../../src/index.js'
import { labPerFile } from '../helpers/lab.js'

const codeOf = (p: Promise<unknown>) =>
  p.then(
    (reply) => reply,
    (e: { code?: string; message?: string }) => e.code ?? e.message,
  )

describe('the seams the model-based test found', () => {
  const fx = labPerFile()

  it("our ROLE sent while the write side reconnects does not end the application's lost MULTI: its EXEC is refused", async () => {
    const lab = fx.lab
    const tr = fx.open()
    await tr.master.set('sm:t', '0')
    const id = Number(await tr.master.client('ID'))
    assert.equal(await tr.master.multi({ pipeline: false }), 'OK')
    assert.equal(await tr.master.incr('sm:t'), 'QUEUED')
    // The connection (and the transaction with it) is lost.
    const closed = once(tr.master, 'close')
    await lab.command(lab.master, 'CLIENT', 'KILL', 'ID', id)
    await closed
    assert.notEqual(tr.master.status, 'ready')
    // The token's ROLE waits in ioredis' offline queue, which ioredis sends through sendCommand again
    // once the next connection is ready: it is ours there too, never refused as the transaction's rest.
    const token = await tr.writeToken()
    // (Asked while no node was connected, the answer names no history: ryw1.)
    assert.match(token, /^ryw(1|2:[0-9a-f]{40}):[1-9]/, 'the ROLE was answered')
    for (let i = 0; i < 3; i++) await tick()
    // The application's first command since the drop is the rest of its transaction.
    assert.equal(await codeOf(tr.master.exec()), 'TRANSACTION_ABORTED')
    assert.equal(await tr.master.get('sm:t'), '0', 'nothing of the half-transaction applied')
  })

  it('a write waiting for a first connect when the fence stands is written before a later one the fence held', async () => {
    const lab = fx.lab
    const tr = fx.open()
    await tr.master.set('sm:o', '0') // connected: the fence's watch listens
    const dup = tr.master.duplicate() as TwiceRedisClient
    try {
      assert.equal(dup.status, 'wait')
      const fenced = once(tr, 'write-fence')
      await lab.failover()
      await fenced
      // Waits in ioredis' offline queue (its connect makes `dup` a member of the fence) ...
      const first = dup.incr('sm:o')
      // ... and this one is held by the fence; the first is held too once ready, and must stay first.
      const second = dup.incr('sm:o')
      assert.deepEqual(await Promise.all([first, second]), [1, 2])
      await lab.waitForNewMaster()
    } finally {
      await dup.quit()
    }
  })

  it('a write in flight when its connection closes during a fence is written again before a later one the fence held', async () => {
    const lab = fx.lab
    const tr = fx.open()
    await lab.waitForMaster()
    await tr.master.set('sm:f', '0')
    await lab.waitForReplication()
    const id = Number(await tr.master.client('ID'))
    const old = lab.master
    // The master holds writes: the first INCR is written and stays unanswered (well past the
    // failover, however loaded the machine: unpaused below).
    await lab.command(old, 'CLIENT', 'PAUSE', 10_000, 'WRITE')
    try {
      const first = tr.master.incr('sm:f')
      const fenced = once(tr, 'write-fence')
      await lab.failover()
      await fenced
      const second = tr.master.incr('sm:f') // held by the fence
      // The connection closes with the first INCR in flight: ioredis writes it again once ready.
      await lab.command(old, 'CLIENT', 'KILL', 'ID', id)
      assert.deepEqual(await Promise.all([first, second]), [1, 2])
    } finally {
      await lab.command(old, 'CLIENT', 'UNPAUSE').catch(() => {})
    }
    await lab.waitForNewMaster().catch(() => {})
  })
})
