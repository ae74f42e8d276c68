import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseSentinelEvent } from '../../src/protocol/sentinel-events.js'
import { FenceState } from '../../src/sentinels/fence.js'

const masterA = 'master mymaster 10.0.0.1 6379'
const masterB = 'master mymaster 10.0.0.9 6379'

function hear(fence: FenceState, sentinel: string, channel: string, message: string) {
  const event = parseSentinelEvent(channel, message, 'mymaster')
  assert.ok(event, `${channel} ${message} parses`)
  return fence.step(sentinel, channel, event, 1)
}

describe('FenceState: every way a fence clears releases it', () => {
  it('a word about another master (sentinels that disagree) lowers the standing fence, then fences that one', () => {
    const fence = new FenceState()
    assert.ok(hear(fence, 's1', '+odown', `${masterA} #quorum 2/2`).raise)
    const step = hear(fence, 's2', '+odown', `${masterB} #quorum 2/2`)
    assert.equal(step.lower, '+odown', 'the fence of 10.0.0.1 is released, not dropped silently')
    assert.equal(step.raise?.master, '10.0.0.9:6379')
    assert.equal(fence.active?.master, '10.0.0.9:6379')
  })

  it('a word taking back another master ends the standing fence with a release', () => {
    const fence = new FenceState()
    assert.ok(hear(fence, 's1', '+try-failover', masterA).raise)
    const step = hear(fence, 's2', '-odown', masterB)
    assert.equal(step.lower, '-odown')
    assert.equal(step.raise, undefined)
    assert.equal(fence.active, undefined)
  })
})
