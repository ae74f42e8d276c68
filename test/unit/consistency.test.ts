import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatToken, mayReadDirectly, parseToken, roleOffset } from '../../src/consistency.js'

describe('consistency', () => {
  it('reads the replication offset from a ROLE reply of a master or a replica', () => {
    assert.equal(roleOffset(['master', 3129659, [['127.0.0.1', '9001', '3129242']]]), 3129659)
    assert.equal(roleOffset(['slave', '127.0.0.1', 9000, 'connected', 3167038]), 3167038)
    for (const garbage of [undefined, 'QUEUED', [], ['sentinel', ['m']], ['master', 'x'], ['slave', 'h', 1, 'c', -1]]) {
      assert.equal(roleOffset(garbage), undefined)
    }
  })

  it('tokens round-trip, and anything else is INVALID_OPTION', () => {
    assert.equal(parseToken(formatToken(42)), 42)
    for (const bad of ['', '42', 'ryw1:', 'ryw1:-1', 'ryw2:1', 'ryw1:12345678901234567', 42, null]) {
      assert.throws(() => parseToken(bad), { code: 'INVALID_OPTION', option: 'token' })
    }
  })

  it('a read goes straight to the replica only when it is known to have every write before it', () => {
    assert.ok(mayReadDirectly({ floor: 0, pending: false, confirmed: -1 }))
    assert.ok(mayReadDirectly({ floor: 10, pending: false, confirmed: 10 }))
    assert.ok(!mayReadDirectly({ floor: 11, pending: false, confirmed: 10 }))
    assert.ok(!mayReadDirectly({ floor: 10, pending: true, confirmed: 10 }), 'a write is being confirmed')
  })
})
