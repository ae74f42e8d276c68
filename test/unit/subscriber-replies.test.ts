import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { isSubscriberReply } from '../../src/protocol/subscriber-replies.js'

const b = (s: string) => Buffer.from(s)

describe("what the watch's subscription lets through to ioredis", () => {
  it('takes the confirmations and messages of a pattern subscription, and errors', () => {
    assert.ok(isSubscriberReply([b('psubscribe'), b('+odown'), 1], true))
    assert.ok(isSubscriberReply([b('pmessage'), b('+odown'), b('+odown'), b('master m 10.0.0.1 6379')], true))
    assert.ok(isSubscriberReply(new Error('NOPERM'), true))
    assert.ok(isSubscriberReply(b('OK'), false), "the handshake's AUTH")
  })

  it("refuses what would throw in ioredis' subscriber mode", () => {
    for (const reply of [
      42,
      null,
      b('OK'),
      [],
      [null, b('x'), 1],
      [b('psubscribe'), null, 1],
      [b('psubscribe'), 42],
      [b('pmessage'), b('p'), b('c')],
      [b('pmessage'), b('p'), null, b('m')],
      [b('message'), b('c'), b('m')],
      [b('subscribe'), b('c'), 1],
    ]) {
      assert.equal(isSubscriberReply(reply, true), false, String(reply))
    }
    assert.equal(isSubscriberReply(null, false), false)
    assert.equal(isSubscriberReply(7, false), false)
  })

  it('never throws, whatever it is given (fixed seed; FUZZ_SEED=random to explore)', () => {
    const seed = process.env.FUZZ_SEED === 'random' ? Date.now() : 20261130
    const value = fc.letrec((tie) => ({
      reply: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.integer(),
        fc.string().map((s) => Buffer.from(s)),
        fc.constantFrom(b('psubscribe'), b('pmessage'), b('punsubscribe')),
        fc.array(tie('reply'), { maxLength: 5 }),
      ),
    })).reply
    fc.assert(
      fc.property(value, fc.boolean(), (reply, subscribed) => {
        isSubscriberReply(reply, subscribed)
      }),
      { seed, numRuns: 500 },
    )
  })
})
