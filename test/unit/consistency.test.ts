import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NodeHistories } from '../../src/consistency/histories.js'
import { advance, formatToken, fresh, later, parseToken } from '../../src/consistency/position.js'
import { behindReason } from '../../src/consistency/replica-check.js'
import type { Session } from '../../src/consistency/session.js'
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
    const replid = 'a'.repeat(40)
    assert.equal(
      formatToken({ offset: 42, history: { replid, replid2: 'b'.repeat(40), switchAt: 3 } }),
      `ryw2:${replid}:42`,
    )
    assert.deepEqual(parseToken(`ryw2:${replid}:42`), { offset: 42, master: undefined, history: { replid } })
    assert.deepEqual(parseToken(formatToken({ offset: 42 })), { offset: 42, master: undefined })
    // A token of an earlier version (history unknown) is still read.
    assert.deepEqual(parseToken('ryw1:0'), { offset: 0, master: undefined })
    assert.equal(parseToken(formatToken({ offset: Number.MAX_SAFE_INTEGER })).offset, Number.MAX_SAFE_INTEGER)
    // Not what formatToken makes: a leading zero, an offset past 2^53 (it would lose precision).
    const unsafe = ['ryw1:05', 'ryw1:9007199254740993']
    const histories = ['ryw2:1', `ryw2:${'A'.repeat(40)}:1`, `ryw2:${'a'.repeat(39)}:1`, `ryw2:${'a'.repeat(40)}`]
    for (const bad of ['', '42', 'ryw1:', 'ryw1:-1', 'ryw1:12345678901234567', ...unsafe, ...histories, 42, null]) {
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

  it('with replication IDs, histories decide, not addresses (INFO names them; a failover continues one)', () => {
    const [h1, h2, h3] = ['1', '2', '3'].map((c) => c.repeat(40)) as [string, string, string]
    const info = { role: 'master', master_repl_offset: '70', master_replid: h2, master_replid2: h1 }
    assert.deepEqual(infoPosition({ ...info, second_repl_offset: '51' }, 'm:1'), {
      offset: 70,
      master: 'm:1',
      history: { replid: h2, replid2: h1, switchAt: 51 },
    })
    const zeros = { ...info, master_replid2: '0'.repeat(40), second_repl_offset: '-1' }
    assert.deepEqual(infoPosition(zeros, 'm:1')?.history, { replid: h2 })
    // Same address, another history (a node that left its master, behind the old master's name): behind.
    const floor = { offset: 60, master: 'a:1', history: { replid: h2, replid2: h1, switchAt: 51 } }
    assert.ok(
      !fresh({ offset: 900, master: 'a:1', history: { replid: h1 } }, floor),
      'the old history, past the switch',
    )
    assert.ok(!fresh({ offset: 900, master: 'a:1', history: { replid: h3 } }, floor))
    assert.ok(fresh({ offset: 60, master: 'a:1', history: { replid: h2 } }, floor))
    assert.ok(!fresh({ offset: 59, master: 'a:1', history: { replid: h2 } }, floor))
    // A floor of the old master; a replica of the new one that continued its history (PSYNC with replid2).
    const old = { offset: 40, master: 'old:1', history: { replid: h1 } }
    const continued = { offset: 45, master: 'new:1', history: { replid: h2, replid2: h1, switchAt: 41 } }
    assert.ok(fresh(continued, old), 'a failover does not make the replicas of the new master behind')
    assert.ok(!fresh(continued, { ...old, offset: 41 }), 'switched before the floor: another history from there')
    // A floor taken on the new master before any write of its own is still in the old history.
    assert.ok(
      fresh(
        { offset: 50, master: 'old:1', history: { replid: h1 } },
        { offset: 50, master: 'x', history: { replid: h2, replid2: h1, switchAt: 51 } },
      ),
    )
    // One side without IDs (a ROLE, a ryw1 token): the address, as before.
    assert.ok(fresh({ offset: 60, master: 'a:1' }, floor))
    assert.deepEqual(advance(floor, { offset: 10, master: 'a:1', history: { replid: h3 } }), {
      offset: 10,
      master: 'a:1',
      history: { replid: h3 },
    })
  })

  // Fourth red team (issue 27): the session's line to the master still on the old master after a
  // failover answered in the old history, and that answer replaced a floor of the new master's:
  // replicas of the old master then passed, and reads missed acknowledged writes.
  it("an answer in the history the floor's continued (the old master, not demoted yet) leaves the floor", () => {
    const [h1, h2] = ['1', '2'].map((c) => c.repeat(40)) as [string, string]
    const floor = { offset: 50_201, master: 'new:1', history: { replid: h2, replid2: h1, switchAt: 50_100 } }
    const oldMaster = { offset: 50_090, master: 'old:1', history: { replid: h1 } }
    assert.deepEqual(advance(floor, oldMaster), floor)
    assert.deepEqual(advance(floor, { ...oldMaster, offset: 60_000 }), floor, 'however far the old master went on')
    assert.ok(!fresh({ offset: 60_000, master: 'old:1', history: { replid: h1 } }, floor))
    // The other way round is a failover: the new history replaces the old one's floor.
    assert.deepEqual(advance(oldMaster, floor), floor)
  })

  it("a ROLE position takes the history the node's last INFO named, while it follows the same master", () => {
    const [h1, h2] = ['1', '2'].map((c) => c.repeat(40)) as [string, string]
    const nodes = new NodeHistories()
    nodes.learn('m:1', { role: 'master', master_replid: h2, master_replid2: h1, second_repl_offset: '51' })
    nodes.learn('r:2', { role: 'slave', master_host: 'm', master_port: '1', master_replid: h2 })
    assert.deepEqual(nodes.attach('m:1', { offset: 70, master: 'm:1' }).history, {
      replid: h2,
      replid2: h1,
      switchAt: 51,
    })
    assert.deepEqual(nodes.attach('r:2', { offset: 60, master: 'm:1' }).history, { replid: h2 })
    // It follows another master now (a failover): its history is unknown until its next INFO.
    assert.equal(nodes.attach('r:2', { offset: 60, master: 'n:1' }).history, undefined)
    // A master that became a replica, a node never seen, a ROLE-only user: unknown.
    assert.equal(nodes.attach('m:1', { offset: 70, master: 'x:1' }).history, undefined)
    assert.equal(nodes.attach('q:3', { offset: 1, master: 'q:3' }).history, undefined)
    nodes.learn('m:1', { role: 'master', master_repl_offset: '70' })
    assert.equal(nodes.attach('m:1', { offset: 70, master: 'm:1' }).history, undefined)
  })

  it('why a replica is behind names the history, when both sides know theirs', () => {
    const session = { probing: 'role' } as Session
    const [h1, h2] = ['1', '2'].map((c) => c.repeat(40)) as [string, string]
    const floor = { offset: 60, master: 'a:1', history: { replid: h2 } }
    assert.equal(
      behindReason(session, floor, { offset: 900, master: 'a:1', history: { replid: h1 } }),
      `on replication history ${h1}, the writes were on ${h2}`,
    )
    // A replica of a new master that continued the history is only bytes behind, not elsewhere.
    const continued = { offset: 50, master: 'b:1', history: { replid: h1, replid2: h2, switchAt: 70 } }
    assert.equal(behindReason(session, floor, continued), '10 bytes behind')
    assert.equal(
      behindReason(session, { offset: 60, master: 'a:1' }, { offset: 9, master: 'b:1' }),
      'follows b:1, the writes were on a:1',
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
