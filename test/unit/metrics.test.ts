import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ClientClosedError } from '../../src/errors.js'
import { errorType, rejectionReason, sentinelOutcome } from '../../src/metrics/metrics.js'

describe('metrics: attribute values stay few', () => {
  it('error.type: our codes, Node codes, the Redis error prefix, else the class name', () => {
    assert.equal(errorType(new ClientClosedError('master')), 'CLIENT_CLOSED')
    assert.equal(errorType(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), 'ECONNRESET')
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), {
      name: 'ReplyError',
    })
    assert.equal(errorType(reply), 'WRONGTYPE')
    assert.equal(errorType(Object.assign(new Error('no prefix'), { name: 'ReplyError' })), 'ReplyError')
    assert.equal(errorType(new Error('Connection is closed.')), 'Error')
  })

  it('node-rejected reasons, as the resolver and the health check write them', () => {
    assert.equal(rejectionReason('reports role master'), 'role')
    assert.equal(rejectionReason('master link down'), 'link')
    assert.equal(rejectionReason('master link down 6000 ms > maxLinkDownMs'), 'link')
    assert.equal(rejectionReason('lag 2000 bytes > maxLagBytes'), 'lag')
    assert.equal(rejectionReason('not in allowedNodes'), 'allowed-nodes')
    assert.equal(rejectionReason('flagged s_down by the sentinels'), 'flagged')
    assert.equal(rejectionReason('connection failed before ready'), 'connect')
    assert.equal(rejectionReason('something new'), 'other')
  })

  it('sentinel outcomes', () => {
    assert.equal(sentinelOutcome(new Error('sentinel 127.0.0.1:1 did not answer within 250 ms')), 'timeout')
    assert.equal(
      sentinelOutcome(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })),
      'refused',
    )
    assert.equal(sentinelOutcome(new Error('WRONGPASS invalid username-password pair')), 'auth')
    assert.equal(
      sentinelOutcome(new Error('sentinel x answered GET-MASTER-ADDR-BY-NAME with no usable address')),
      'bad-answer',
    )
    assert.equal(sentinelOutcome('weird'), 'error')
  })
})
