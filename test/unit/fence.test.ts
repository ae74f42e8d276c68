import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseSentinelEvent } from '../../src/protocol/sentinel-events.js'
import { FenceState } from '../../src/sentinels/fence.js'

const M = '10.0.0.1:6379'
const master = `master mymaster 10.0.0.1 6379`
const replica = (port: number) => `slave 10.0.0.2:${port} 10.0.0.2 ${port} @ mymaster 10.0.0.1 6379`

/** Feed `fence` what `sentinel` published, as the watch does. */
function hear(fence: FenceState, sentinel: string, channel: string, message: string, now = 1) {
  const event = parseSentinelEvent(channel, message, 'mymaster')
  assert.ok(event, `${channel} ${message} parses`)
  return fence.step(sentinel, channel, event, now)
}

describe('parseSentinelEvent: the words of a failover', () => {
  it('reads +odown/-odown of our master, with the master it is about', () => {
    assert.deepEqual(parseSentinelEvent('+odown', `${master} #quorum 2/2`, 'mymaster'), {
      type: 'odown',
      master: 'mymaster',
      on: true,
      node: M,
    })
    assert.deepEqual(parseSentinelEvent('-odown', master, 'mymaster'), {
      type: 'odown',
      master: 'mymaster',
      on: false,
      node: M,
    })
    assert.equal(parseSentinelEvent('+odown', 'master other 10.0.0.1 6379', 'mymaster'), undefined)
  })

  it('reads the steps of a failover, the replica the leader promotes, and its aborts', () => {
    for (const channel of ['+try-failover', '+elected-leader', '+failover-state-select-slave', '+failover-end']) {
      assert.deepEqual(parseSentinelEvent(channel, master, 'mymaster'), {
        type: 'failover',
        master: 'mymaster',
        on: true,
        node: M,
      })
    }
    for (const channel of ['+selected-slave', '+failover-state-send-slaveof-noone', '+failover-state-wait-promotion']) {
      assert.deepEqual(parseSentinelEvent(channel, replica(6380), 'mymaster'), {
        type: 'failover',
        master: 'mymaster',
        on: true,
        node: M,
        candidate: { host: '10.0.0.2', port: 6380, address: '10.0.0.2:6380' },
      })
    }
    for (const channel of [
      '-failover-abort-not-elected',
      '-failover-abort-no-good-slave',
      '-failover-abort-slave-timeout',
    ]) {
      assert.deepEqual(parseSentinelEvent(channel, master, 'mymaster'), {
        type: 'failover',
        master: 'mymaster',
        on: false,
        node: M,
      })
    }
    assert.equal(parseSentinelEvent('+try-failover', 'master other 10.0.0.1 6379', 'mymaster'), undefined)
    assert.equal(parseSentinelEvent('+selected-slave', replica(0), 'mymaster'), undefined, 'no usable candidate')
  })

  it('names the master a switch replaced', () => {
    const event = parseSentinelEvent('+switch-master', 'mymaster 10.0.0.1 6379 10.0.0.2 6380', 'mymaster')
    assert.equal(event?.type === 'switch-master' && event.from, M)
  })
})

describe('the write fence', () => {
  it("rises at the first word of a failover and names the replica being promoted; one sentinel's +sdown is no word", () => {
    const fence = new FenceState()
    assert.equal(parseSentinelEvent('+sdown', master, 'mymaster'), undefined)
    const raised = hear(fence, 's1', '+try-failover', master, 42)
    assert.deepEqual(raised.raise, { master: M, since: 42, reason: '+try-failover', sentinel: 's1' })
    assert.equal(hear(fence, 's1', '+elected-leader', master).raise, undefined, 'raised once')
    const selected = hear(fence, 's1', '+selected-slave', replica(6380))
    assert.equal(selected.candidate?.address, '10.0.0.2:6380')
    assert.equal(hear(fence, 's1', '+failover-state-wait-promotion', replica(6380)).candidate, undefined, 'same one')
    assert.equal(fence.active?.candidate?.address, '10.0.0.2:6380')
  })

  it('stands while any sentinel still says the master is down or failing over, and falls when all took it back', () => {
    const fence = new FenceState()
    assert.ok(hear(fence, 's1', '+odown', `${master} #quorum 2/2`).raise)
    hear(fence, 's2', '+odown', `${master} #quorum 2/2`)
    hear(fence, 's2', '+try-failover', master)
    assert.deepEqual(hear(fence, 's2', '-failover-abort-not-elected', master), {}, 's2 still says odown')
    assert.deepEqual(hear(fence, 's1', '-odown', master), {}, 's2 still says odown')
    assert.equal(hear(fence, 's2', '-odown', master).lower, '-odown')
    assert.equal(fence.active, undefined)
  })

  it('+failover-end does not let writes back to the old master (the switch follows it)', () => {
    const fence = new FenceState()
    hear(fence, 's1', '+try-failover', master)
    assert.deepEqual(hear(fence, 's1', '+failover-end', master), {})
    assert.ok(fence.active)
  })

  it('falls with a switch, after which late words about the old master raise nothing', () => {
    const fence = new FenceState()
    hear(fence, 's1', '+odown', master)
    const event = parseSentinelEvent('+switch-master', 'mymaster 10.0.0.1 6379 10.0.0.2 6380', 'mymaster')!
    assert.equal(fence.step('s1', '+switch-master', event, 2).switchTo?.address, '10.0.0.2:6380')
    assert.equal(fence.active, undefined)
    assert.deepEqual(hear(fence, 's2', '+failover-state-reconf-slaves', master), {})
    assert.deepEqual(hear(fence, 's3', '+odown', master), {})
    // The new master may fail over in turn, and the old one come back as master later.
    assert.ok(hear(fence, 's1', '+try-failover', 'master mymaster 10.0.0.2 6380').raise)
    fence.switched({ host: '10.0.0.1', port: 6379, address: M })
    assert.ok(hear(fence, 's1', '+try-failover', master).raise, 'promoted again: no longer retired')
  })

  it('a late announcement of a switch the process already went past changes nothing (two failovers in a row)', () => {
    const fence = new FenceState()
    const A = { host: '10.0.0.1', port: 6379, address: M }
    const B = { host: '10.0.0.2', port: 6380, address: '10.0.0.2:6380' }
    const C = { host: '10.0.0.3', port: 6381, address: '10.0.0.3:6381' }
    assert.equal(fence.switched(B, A.address, A.address).switchTo, B)
    assert.equal(fence.switched(C, B.address, B.address).switchTo, C)
    assert.deepEqual(fence.switched(B, A.address, C.address), {}, 'A -> B heard late from another sentinel')
    assert.equal(fence.switched(B, C.address, C.address).switchTo, B, 'C -> B is a new failover back')
  })

  describe('two leaders at once (two SENTINEL FAILOVER, or an election retried)', () => {
    const A = { host: '10.0.0.1', port: 6379, address: M }
    const B = { host: '10.0.0.2', port: 6380, address: '10.0.0.2:6380' }
    const C = { host: '10.0.0.2', port: 6381, address: '10.0.0.2:6381' }
    const lead = (fence: FenceState, sentinel: string, port: number) => {
      hear(fence, sentinel, '+try-failover', master)
      hear(fence, sentinel, '+elected-leader', master)
      hear(fence, sentinel, '+selected-slave', replica(port))
    }

    it('toward different replicas: no switch lets writes go until one leader is left', () => {
      const fence = new FenceState()
      lead(fence, 's1', 6380)
      assert.equal(fence.contested, false, 'one leader')
      lead(fence, 's2', 6381)
      assert.equal(fence.contested, true)
      assert.deepEqual(fence.switched(B, A.address, A.address, 's1'), {}, "s1's switch waits for s2's")
      assert.ok(fence.active)
      assert.equal(fence.switched(C, A.address, A.address, 's2').switchTo, C)
      assert.equal(fence.active, undefined)
    })

    it("the other leader's abort lets the pending switch through", () => {
      const fence = new FenceState()
      lead(fence, 's1', 6380)
      lead(fence, 's2', 6381)
      assert.deepEqual(fence.switched(B, A.address, A.address, 's1'), {})
      assert.equal(hear(fence, 's2', '-failover-abort-slave-timeout', master).switchTo, B)
    })

    it('toward the same replica, or with sentinels that only tried: no contest', () => {
      const fence = new FenceState()
      lead(fence, 's1', 6380)
      lead(fence, 's2', 6380)
      hear(fence, 's3', '+try-failover', master)
      assert.equal(fence.contested, false)
      assert.equal(fence.switched(B, A.address, A.address, 's1').switchTo, B)
    })
  })

  it('a word about another master starts over for that one', () => {
    const fence = new FenceState()
    hear(fence, 's1', '+odown', master)
    const other = hear(fence, 's1', '+try-failover', 'master mymaster 10.0.0.9 6379')
    assert.equal(other.raise?.master, '10.0.0.9:6379')
  })
})
