// The second red team's findings (issue 27), each a test that fails on b3c8aed. A replica is held
// back with `CLIENT PAUSE WRITE` (connected, answers ROLE, applies nothing of its master's stream);
// the lab's `downAfterMs` is long enough that the sentinels' hellos, paused with it, flag nothing.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TwiceRedis, TwiceRedisConfig } from '../../src/index.js'
import type { Lab } from '../../src/lab/index.js'
import { labPerFile } from '../helpers/lab.js'
import { settles } from '../helpers/load.js'

/** The replicas apply none of their master's writes until the returned function is called. */
async function holdBack(lab: Lab): Promise<() => Promise<void>> {
  for (const r of lab.replicas) await lab.command(r, 'CLIENT', 'PAUSE', 30_000, 'WRITE')
  return async () => {
    for (const r of lab.replicas) await lab.command(r, 'CLIENT', 'UNPAUSE')
  }
}

const session: Partial<TwiceRedisConfig> = {
  consistency: 'session',
  consistencyTimeoutMs: 100,
  healthCheckIntervalMs: 0,
}

/** Both sides ready, without a command (with `enableOfflineQueue: false` a first command would fail). */
async function ready(tr: TwiceRedis): Promise<void> {
  for (let i = 0; i < 250 && (tr.master.status !== 'ready' || tr.slave.status !== 'ready'); i++) {
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The reply, or the error's code (its message when it has none). */
const outcome = (p: Promise<unknown>) =>
  p.then(
    (reply) => reply,
    (e: { code?: string; message?: string }) => e.code ?? `untyped: ${e.message}`,
  )

describe('seams found by the second breaker (issue 27)', () => {
  const fx = labPerFile({ downAfterMs: 20_000 })

  /** `old` everywhere, then the replicas held back: what the session writes next they lack. */
  async function stale(key: string): Promise<() => Promise<void>> {
    await fx.lab.command(fx.lab.master, 'SET', key, 'old')
    await fx.lab.waitForReplication()
    return holdBack(fx.lab)
  }

  it('after await tr.master.quit(), a read of a write acknowledged before is not served stale', async () => {
    const tr = fx.open(session)
    await tr.slave.get('warm-up')
    const release = await stale('f1:quit')
    try {
      await tr.master.set('f1:quit', 'new')
      await tr.master.quit()
      // README: the write, or REPLICA_BEHIND ("a plain read held when tr.master.quit() had already
      // closed the master side"); never the value from before the write.
      assert.notEqual(await settles(outcome(tr.slave.get('f1:quit')), 'read'), 'old')
    } finally {
      await release()
    }
  })

  it('after await tr.master.quit(), writeToken() covers the writes acknowledged before (not ryw1:0)', async () => {
    const tr = fx.open(session)
    await tr.slave.get('warm-up')
    const release = await stale('f1:token')
    try {
      await tr.master.set('f1:token', 'new')
      await tr.master.quit()
      const token = await settles(outcome(tr.writeToken()), 'writeToken')
      assert.notEqual(token, 'ryw1:0')
      if (typeof token === 'string' && token.startsWith('ryw1:')) {
        const reader = fx.open(session)
        reader.readAfter(token)
        assert.equal(await settles(reader.slave.get('f1:token'), 'read'), 'new')
      }
    } finally {
      await release()
    }
  })

  for (const [name, options, between] of [
    ['tr.master.disconnect()', {}, (tr: TwiceRedis) => tr.master.disconnect()],
    [
      'tr.disconnect() (enableOfflineQueue false on the master side only)',
      'master',
      (tr: TwiceRedis) => tr.disconnect(),
    ],
    ['a MULTI opened on tr.master', {}, (tr: TwiceRedis) => tr.master.multi({ pipeline: false })],
  ] as const) {
    it(`enableOfflineQueue: false: an acknowledged write is read after ${name}`, async () => {
      const offline =
        options === 'master' ? { masterOptions: { enableOfflineQueue: false } } : { enableOfflineQueue: false }
      const tr = fx.open({ ...session, lazyConnect: false, ...offline })
      await ready(tr)
      const key = `f2:${name}`
      const release = await stale(key)
      try {
        await tr.master.set(key, 'new')
        await between(tr)
        assert.equal(await settles(outcome(tr.slave.get(key)), 'read'), 'new')
      } finally {
        await release()
      }
    })
  }

  it('enableOfflineQueue: false: writeToken() after tr.disconnect() covers the acknowledged write', async () => {
    const tr = fx.open({ ...session, lazyConnect: false, enableOfflineQueue: false })
    await ready(tr)
    const release = await stale('f2:token')
    try {
      await tr.master.set('f2:token', 'new')
      tr.disconnect()
      const token = await settles(outcome(tr.writeToken()), 'writeToken')
      assert.notEqual(token, 'ryw1:0')
    } finally {
      await release()
    }
  })

  it('maxRetriesPerRequest: 0: an acknowledged write is read after the master closed the connection (6 of 7 runs)', async () => {
    const tr = fx.open({ ...session, maxRetriesPerRequest: 0 })
    await tr.slave.get('warm-up')
    const release = await stale('f3:cut')
    try {
      await tr.master.set('f3:cut', 'new')
      // Closed from the server's side (a blip), over the lab's connection: the read follows at once.
      const id = await tr.master.client('ID')
      const node = fx.lab.node(tr.master.node?.address ?? '')
      assert.ok(node)
      await fx.lab.command(node, 'CLIENT', 'KILL', 'ID', String(id))
      assert.equal(await settles(outcome(tr.slave.get('f3:cut')), 'read'), 'new')
    } finally {
      await release()
    }
  })

  it('quit() answers a command sent before it while the client connects (README: what was sent before is answered first; plain ioredis does)', async () => {
    const tr = fx.open()
    const sent = outcome(tr.master.set('f4:quit', 'sent before quit'))
    await tr.quit()
    assert.equal(await sent, 'OK')
    assert.equal(await fx.lab.command(fx.lab.master, 'GET', 'f4:quit'), 'sent before quit')
  })

  it('quit() right after disconnect() answers a command sent between them', async () => {
    const tr = fx.open()
    await tr.master.ping()
    tr.disconnect()
    const sent = outcome(tr.master.set('f4:after-disconnect', 'v'))
    await tr.quit()
    assert.equal(await sent, 'OK')
  })

  it('enableOfflineQueue: false with idleTimeoutMs: the command after an idle timeout reconnects, or rejects typed', async () => {
    const tr = fx.open({ lazyConnect: false, enableOfflineQueue: false, idleTimeoutMs: 100 })
    await ready(tr)
    while (tr.slave.status !== 'end') await new Promise((r) => setTimeout(r, 20))
    const got = await settles(outcome(tr.slave.get('f5:idle')), 'read')
    assert.ok(got === null || !String(got).startsWith('untyped'), String(got))
  })

  it('a tr.slave pipeline of GET, SET, GET after a write: the GETs read the write, the SET fails READONLY', async () => {
    const tr = fx.open(session)
    await tr.slave.get('warm-up')
    const release = await stale('f6:mixed')
    try {
      await tr.master.set('f6:mixed', 'new')
      const replies = await settles(
        tr.slave.pipeline().get('f6:mixed').set('f6:mixed', 'x').get('f6:mixed').exec(),
        'pipeline',
      )
      const shown = replies?.map(([e, v]) => (e ? ((e as { code?: string }).code ?? e.message.split(' ')[0]) : v))
      assert.deepEqual(shown, ['new', 'READONLY', 'new'])
    } finally {
      await release()
    }
  })
  it('commandTimeout: a read after an acknowledged write is not served stale when the master is slow to answer the ROLE (9 of 10 runs)', async () => {
    const tr = fx.open({ ...session, commandTimeout: 100 })
    await tr.slave.get('warm-up')
    await tr.master.get('warm-up')
    const release = await stale('f9:slow')
    try {
      await tr.master.set('f9:slow', 'new')
      // The master answers nothing for 300 ms (a slow script elsewhere, a pause): longer than commandTimeout.
      await fx.lab.command(fx.lab.master, 'CLIENT', 'PAUSE', 300, 'ALL')
      // The write, or a rejection (timed out); never the value from before the write.
      assert.notEqual(await settles(outcome(tr.slave.get('f9:slow')), 'read'), 'old')
    } finally {
      await release()
    }
  })

  it('writeToken() covers a write the write fence holds (README: every write sent on tr.master so far)', async () => {
    const tr = fx.open({ consistency: 'session' })
    const reader = fx.open()
    await tr.master.set('f8:k', 'old')
    await reader.slave.get('f8:k')
    let read: unknown
    const fenced = new Promise<void>((resolve) => {
      tr.once('write-fence', async () => {
        const write = outcome(tr.master.set('f8:k', 'new')) // held by the fence
        const token = await outcome(tr.writeToken())
        reader.readAfter(String(token))
        read = await outcome(reader.slave.get('f8:k'))
        await write
        resolve()
      })
    })
    await fx.lab.failover()
    await fx.lab.waitForNewMaster()
    await settles(fenced, 'the write, the token and the read', 15_000)
    assert.equal(read, 'new')
  })
})
