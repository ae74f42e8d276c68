// Event orders as ioredis has them (its functional suite: pub_sub, lazy_connect), on tr.master.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { labPerFile } from '../helpers/lab.js'

describe('events in the order ioredis emits them', () => {
  const fx = labPerFile({ replicas: 1, sentinels: 1 })

  for (const subscribed of [false, true]) {
    it(`quit(callback) calls back before 'end'${subscribed ? ' (in subscriber mode)' : ''}`, async () => {
      const tr = fx.open()
      const client = subscribed ? tr.master.duplicate() : tr.master
      if (subscribed) await client.subscribe('quit-order')
      else await client.ping()
      const order: string[] = []
      client.on('end', () => order.push('end'))
      await client.quit(() => order.push('callback'))
      assert.deepEqual(order, ['callback', 'end'])
    })
  }

  it("disconnect() of a client that never connected emits 'close' and 'end'; the next command connects", async () => {
    const tr = fx.open()
    const events: string[] = []
    for (const name of ['close', 'end']) tr.master.on(name, () => events.push(name))
    tr.master.disconnect()
    // ioredis emits them on the next tick (setStatus).
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(events, ['close', 'end'])
    assert.equal(tr.master.status, 'end')
    assert.equal(await tr.master.ping(), 'PONG')
  })

  it("quit() of a client that never connected emits 'close' and 'end', as ioredis does", async () => {
    const tr = fx.open()
    const events: string[] = []
    for (const name of ['close', 'end']) tr.master.on(name, () => events.push(name))
    assert.equal(await tr.master.quit(), 'OK')
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(events, ['close', 'end'])
    await assert.rejects(tr.master.ping(), { code: 'CLIENT_CLOSED' })
  })
})
