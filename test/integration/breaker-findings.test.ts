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

})
