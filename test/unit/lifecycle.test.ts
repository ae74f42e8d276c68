import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { initial, inOutage, type Lifecycle, type LifecycleEvent, next, retryDelay } from '../../src/lifecycle.js'

const run = (...events: LifecycleEvent[]): Lifecycle => events.reduce(next, initial)
const backoff = (attempt: number) => attempt * 100

describe('lifecycle', () => {
  it('connects on demand and retries after losing the node, with backoff', () => {
    assert.equal(run('connect').state, 'connecting')
    assert.deepEqual(run('connect', 'ready'), { state: 'ready', kicked: false })
    const lost = run('connect', 'ready', 'lost')
    assert.deepEqual(lost, { state: 'waiting', attempt: 1, outage: true, now: false })
    assert.equal(retryDelay(lost, backoff), 100)
    assert.equal(retryDelay(run('connect', 'ready', 'lost', 'connect', 'lost'), backoff), 200)
    assert.ok(inOutage(lost))
  })

  it('an automatic retry may reuse a sentinel answer, a first connect may not; a kicked retry goes after a switch', () => {
    const retry = run('connect', 'ready', 'lost', 'connect')
    assert.ok(retry.state === 'connecting' && retry.retry && !retry.afterSwitch)
    const first = run('connect')
    assert.ok(first.state === 'connecting' && !first.retry && !inOutage(first))
    const kicked = run('connect', 'ready', 'lost', 'kick', 'connect')
    assert.ok(kicked.state === 'connecting' && kicked.retry && kicked.afterSwitch)
  })

  it('a kick retries at once, and only the attempt it was meant for', () => {
    assert.equal(retryDelay(run('connect', 'ready', 'lost', 'kick'), backoff), 0)
    assert.equal(retryDelay(run('connect', 'ready', 'kick', 'lost'), backoff), 0)
    // A kick while connecting that then succeeds leaves no trace: a later, unrelated drop backs off.
    const later = run('connect', 'kick', 'ready', 'lost')
    assert.equal(retryDelay(later, backoff), 100)
    // Nothing to kick on an idle or closed client.
    assert.deepEqual(run('kick'), initial)
  })

  it('a first connect that fails waits for the next command; a failed retry in an outage keeps retrying', () => {
    assert.deepEqual(run('connect', 'gave-up'), initial)
    assert.deepEqual(run('connect', 'ready', 'lost', 'connect', 'gave-up'), {
      state: 'waiting',
      attempt: 2,
      outage: true,
      now: false,
    })
  })

  it('disconnect() waits for the socket to close, then connects again on demand', () => {
    const closing = run('connect', 'ready', 'disconnect')
    assert.equal(closing.state, 'disconnecting')
    assert.equal(next(closing, 'ready'), closing, 'a late ready event does not reopen')
    assert.deepEqual(next(closing, 'ended'), initial)
    assert.deepEqual(next(closing, 'gave-up'), initial)
    assert.equal(retryDelay(closing, backoff), 0)
  })

  it('quit() is final', () => {
    const closed = run('connect', 'ready', 'quit')
    for (const event of ['connect', 'ready', 'lost', 'gave-up', 'kick', 'disconnect', 'ended'] as const) {
      assert.deepEqual(next(closed, event), { state: 'closed' })
    }
  })
})
