import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { masterFailoverState } from '../../src/protocol/sentinel-replies.js'
import { Members } from '../../src/sentinels/members.js'

/** A full collection: V8's gc() (exposed here) under Node and Deno, Bun.gc under Bun. */
const gc = ((): (() => void) => {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun
  if (bun) return () => bun.gc(true)
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

/** Collect garbage until `done()` (finalizers run between turns of the event loop), at most 20 times. */
async function collect(done: () => boolean): Promise<void> {
  for (let i = 0; i < 20 && !done(); i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
}

describe('Members: the write fence holds its members weakly, strongly while a fence stands', () => {
  it('a member nobody else holds is collected, and the watch is told', async () => {
    let collected = 0
    const members = new Members<object>(() => collected++)
    const kept = {}
    ;(() => {
      members.add({})
      members.add(kept)
    })()
    await collect(() => collected > 0)
    assert.equal(collected, 1)
    assert.equal(members.size, 1)
    assert.deepEqual(members.all(), [kept])
  })

  it('pinned while a fence stands (also one joining then); collectable again once unpinned', async () => {
    let collected = 0
    const members = new Members<object>(() => collected++)
    ;(() => members.add({}))()
    members.pin()
    ;(() => members.add({}))()
    await collect(() => collected > 0)
    assert.equal(collected, 0, 'what they hold must be released, not collected')
    assert.equal(members.all().length, 2)
    members.unpin()
    await collect(() => collected === 2)
    assert.equal(collected, 2)
    assert.equal(members.size, 0)
  })

  it('a member that leaves is not reported collected', async () => {
    let collected = 0
    const members = new Members<object>(() => collected++)
    ;(() => {
      const member = {}
      members.add(member)
      assert.ok(members.delete(member))
      assert.equal(members.delete(member), false)
    })()
    await collect(() => false)
    assert.equal(collected, 0)
  })
})

describe('masterFailoverState: what SENTINEL MASTER says of a failover under way', () => {
  const reply = (flags: string) => ['name', 'mymaster', 'ip', '10.0.0.1', 'port', '6379', 'flags', flags]
  it('o_down and failover_in_progress, from the flags', () => {
    assert.deepEqual(masterFailoverState(reply('master')), {
      host: '10.0.0.1',
      port: 6379,
      odown: false,
      failover: false,
    })
    assert.deepEqual(masterFailoverState(reply('s_down,o_down,master,failover_in_progress,force_failover')), {
      host: '10.0.0.1',
      port: 6379,
      odown: true,
      failover: true,
    })
  })
  it('nothing without a usable address', () => {
    assert.equal(masterFailoverState(['flags', 'master,failover_in_progress']), undefined)
    assert.equal(masterFailoverState('ERR No such master with that name'), undefined)
  })
})
