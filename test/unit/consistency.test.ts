import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { advance, formatToken, fresh, later, parseToken } from '../../src/consistency/position.js'
import { infoPosition, roleOffset, rolePosition } from '../../src/protocol/node-info.js'

describe('consistency', () => {
  it('reads the replication offset from a ROLE reply of a master or a replica', () => {
    assert.equal(roleOffset(['master', 3129659, [['127.0.0.1', '9001', '3129242']]]), 3129659)
    assert.equal(roleOffset(['slave', '127.0.0.1', 9000, 'connected', 3167038]), 3167038)
    for (const garbage of [undefined, 'QUEUED', [], ['sentinel', ['m']], ['master', 'x'], ['slave', 'h', 1, 'c', -1]]) {
      assert.equal(roleOffset(garbage), undefined)
    }
  })

  it('a position names the history: a master is its own, a replica the master it follows (ROLE and INFO)', () => {
    assert.deepEqual(rolePosition(['master', 50, []], 'm:1'), { offset: 50, master: 'm:1' })
    assert.deepEqual(rolePosition(['slave', '10.0.0.1', 6379, 'connected', 40], 'r:2'), {
      offset: 40,
      master: '10.0.0.1:6379',
    })
    assert.deepEqual(infoPosition({ role: 'master', master_repl_offset: '7' }, 'm:1'), { offset: 7, master: 'm:1' })
    const replica = { role: 'slave', master_host: 'h', master_port: '1', slave_repl_offset: '6' }
    assert.deepEqual(infoPosition(replica, 'r:2'), { offset: 6, master: 'h:1' })
    assert.equal(infoPosition({ role: 'slave' }, 'r:2'), undefined)
  })

  it('tokens round-trip, and anything else is INVALID_OPTION', () => {
    assert.equal(parseToken(formatToken(42)), 42)
    assert.equal(parseToken(formatToken(0)), 0)
    assert.equal(parseToken(formatToken(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER)
    // Not what formatToken makes: a leading zero, an offset past 2^53 (it would lose precision).
    const unsafe = ['ryw1:05', 'ryw1:9007199254740993']
    for (const bad of ['', '42', 'ryw1:', 'ryw1:-1', 'ryw2:1', 'ryw1:12345678901234567', ...unsafe, 42, null]) {
      assert.throws(() => parseToken(bad), { code: 'INVALID_OPTION', option: 'token' })
    }
  })

  it('a replica is fresh at the floor of the same history only, and never behind what the read side showed', () => {
    const floor = { offset: 10, master: 'a:1' }
    assert.ok(fresh(undefined, { offset: 0, master: undefined }), 'no write: nothing to check')
    assert.ok(fresh({ offset: 10, master: 'a:1' }, floor))
    assert.ok(!fresh({ offset: 9, master: 'a:1' }, floor))
    assert.ok(!fresh({ offset: 99, master: 'b:1' }, floor), 'another history, whatever its offset (finding 4)')
    assert.ok(fresh({ offset: 10, master: 'b:1' }, { offset: 10, master: undefined }), 'a token names no history')
    assert.ok(!fresh(undefined, floor))
    const seen = { offset: 20, master: 'a:1' }
    assert.ok(!fresh({ offset: 15, master: 'a:1' }, floor, seen), 'monotonic reads across a reconnect')
    assert.ok(!fresh(undefined, { offset: 0, master: undefined }, seen), 'a new connection is checked once')
    assert.ok(
      fresh({ offset: 5, master: 'b:1' }, { offset: 0, master: undefined }, seen),
      'another history: not comparable',
    )
  })

  it("the floor follows the master's answers: the later in one history, a new history or a token's check replaces it", () => {
    assert.deepEqual(advance({ offset: 10, master: 'a' }, { offset: 5, master: 'a' }), { offset: 10, master: 'a' })
    assert.deepEqual(advance({ offset: 10, master: 'a' }, { offset: 12, master: 'a' }), { offset: 12, master: 'a' })
    assert.deepEqual(advance({ offset: 10, master: 'a' }, { offset: 3, master: 'b' }), { offset: 3, master: 'b' })
    assert.deepEqual(advance({ offset: 1e6, master: undefined }, { offset: 3, master: 'a' }), {
      offset: 3,
      master: 'a',
    })
  })

  it('what a read side has seen only grows in one history; a position in another history replaces it', () => {
    const a5 = { offset: 5, master: 'a:1' }
    const a9 = { offset: 9, master: 'a:1' }
    assert.deepEqual(later(a9, a5), a9, 'a lower answer of the same master does not lower it')
    assert.deepEqual(later(a5, a9), a9)
    assert.deepEqual(later(a9, { offset: 2, master: 'b:1' }), { offset: 2, master: 'b:1' })
    assert.deepEqual(later(undefined, a5), a5)
    assert.deepEqual(later(a5, undefined), a5)
  })
})
