// Issue 27: idleTimeoutMs where it meets the session's read gate. The full suite's run of
// seams-session ("an acknowledged write is read after the write side went idle") once failed with
// ioredis' "Connection is closed.": the read side's idle timer closed a connection while the gate
// held a read (held commands are in no ioredis queue), and what the gate or the session then sent
// went into the closing socket. Here the idle timeout is shorter than the gate's wait, every time.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { labPerFile } from '../helpers/lab.js'
import { settles } from '../helpers/load.js'

describe('idle timeouts at the seams', () => {
  const fx = labPerFile()

  it("a read the session's gate holds longer than idleTimeoutMs is answered (the connection is not idle)", async () => {
    const tr = fx.open({
      consistency: 'session',
      consistencyTimeoutMs: 300,
      idleTimeoutMs: 30,
      healthCheckIntervalMs: 0,
    })
    await fx.lab.command(fx.lab.master, 'SET', 'idle:k', 'old')
    await fx.lab.waitForReplication()
    await tr.slave.get('idle:k')
    for (const r of fx.lab.replicas) await fx.lab.command(r, 'CLIENT', 'PAUSE', 1000, 'WRITE')
    let closes = 0
    tr.slave.on('close', () => closes++)
    try {
      await tr.master.set('idle:k', 'new')
      // Held for up to 300 ms for the paused replica, then moved to the master: never stale, never
      // failed, and the read side is not closed under it meanwhile.
      assert.equal(await settles(tr.slave.get('idle:k'), 'the held read'), 'new')
      assert.equal(closes, 0, 'the read side was closed as idle while its gate held a read')
    } finally {
      for (const r of fx.lab.replicas) await fx.lab.command(r, 'CLIENT', 'UNPAUSE')
    }
  })

  it('what the session sends while disconnect() closes tr.master goes on the next connection', async () => {
    const tr = fx.open({ consistency: 'session', healthCheckIntervalMs: 0 })
    await tr.slave.get('warm-up')
    for (let i = 0; i < 20; i++) {
      await tr.master.set('idle:d', String(i))
      // The read's ROLE (behind the write) and the disconnect() in the same tick, in either order.
      const read = i % 2 ? tr.slave.get('idle:d') : undefined
      tr.master.disconnect()
      const late = read ?? tr.slave.get('idle:d')
      assert.equal(await settles(late, `read ${i}`), String(i))
    }
  })
})
