import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { normalize } from '../../src/options/normalize.js'
import { configEpoch } from '../../src/protocol/sentinel-replies.js'
import { parseAllowedNodes } from '../../src/routing/allowed-nodes.js'
import { bestOf, type MasterAnswer, masterNotAllowed, raiseEpoch, staleEpoch } from '../../src/sentinels/answers.js'
import { sentinelKey } from '../../src/sentinels/registry.js'
import { refusedLast, toBack, toFront } from '../../src/sentinels/sentinel-order.js'

const answer = (address: string, epoch?: number, sentinel = 's1:26379'): MasterAnswer => {
  const [host, port] = address.split(':')
  return { sentinel, master: { host: host!, port: Number(port), address }, epoch }
}

describe('judging a sentinel answer', () => {
  it('config-epoch from SENTINEL MASTER; anything else is no epoch', () => {
    assert.equal(configEpoch(['name', 'm', 'config-epoch', '7']), 7)
    assert.equal(configEpoch(['name', 'm', 'config-epoch', 7]), 7)
    for (const bad of [[], null, 'x', ['config-epoch', ''], ['config-epoch', '-1'], ['config-epoch', '1e400']]) {
      assert.equal(configEpoch(bad), undefined, JSON.stringify(bad))
    }
  })

  it('a master outside allowedNodes is refused, judged after natMap', () => {
    const allowed = parseAllowedNodes(['10.0.0.0/8'])
    assert.equal(masterNotAllowed(answer('10.1.1.1:6379').master, allowed, undefined), undefined)
    assert.equal(masterNotAllowed(answer('1.2.3.4:6379').master, undefined, undefined), undefined)
    assert.equal(
      masterNotAllowed(answer('1.2.3.4:6379').master, allowed, undefined),
      'master 1.2.3.4:6379 is not in allowedNodes',
    )
    const natMap = { '10.1.1.1:6379': { host: '192.168.0.1', port: 6379 } }
    assert.equal(
      masterNotAllowed(answer('10.1.1.1:6379').master, allowed, natMap),
      'master 10.1.1.1:6379 (natMap: 192.168.0.1) is not in allowedNodes',
    )
  })

  it('an answer naming another master with an older epoch is stale; the same master, a newer or no epoch is not', () => {
    const highest = { value: 5, master: '10.0.0.1:6379', sentinel: 's2:26379' }
    assert.match(
      staleEpoch(answer('10.0.0.2:6379', 4), highest)!,
      /config epoch 4 is older than epoch 5, in which s2:26379/,
    )
    assert.equal(staleEpoch(answer('10.0.0.1:6379', 4), highest), undefined)
    assert.equal(staleEpoch(answer('10.0.0.2:6379', 5), highest), undefined)
    assert.equal(staleEpoch(answer('10.0.0.2:6379'), highest), undefined)
    assert.equal(staleEpoch(answer('10.0.0.2:6379', 0), undefined), undefined)
  })

  it('the highest epoch only moves up; the best of stale answers is the highest', () => {
    const first = raiseEpoch(undefined, answer('a:1', 3))
    assert.deepEqual(first, { value: 3, master: 'a:1', sentinel: 's1:26379' })
    assert.equal(raiseEpoch(first, answer('b:1', 2)), first)
    assert.equal(raiseEpoch(first, answer('b:1')), first)
    assert.deepEqual(raiseEpoch(first, answer('b:1', 4, 's3:1')), { value: 4, master: 'b:1', sentinel: 's3:1' })
    assert.equal(bestOf([answer('a:1', 1), answer('b:1', 3), answer('c:1')])?.master.address, 'b:1')
    assert.equal(bestOf([]), undefined)
  })
})

describe('the order of sentinels', () => {
  it('to the front after an answer taken, to the back after one refused, refused ones behind newly learned ones', () => {
    const list = ['a', 'b', 'c']
    assert.deepEqual(
      toFront(list, (s) => s === 'c'),
      ['c', 'a', 'b'],
    )
    assert.deepEqual(
      toBack(list, (s) => s === 'a'),
      ['b', 'c', 'a'],
    )
    assert.deepEqual(
      toBack(list, (s) => s === 'x'),
      list,
    )
    assert.deepEqual(
      refusedLast(['b', 'a', 'd'], (s) => s === 'a'),
      ['b', 'd', 'a'],
    )
  })
})

describe('the sharing key', () => {
  const base = { name: 'm', sentinels: ['s:26379'] }
  it('includes allowedNodes (as a set of entries) and natMap', () => {
    const key = (o: object) => sentinelKey(normalize({ ...base, ...o }))
    assert.notEqual(key({}), key({ allowedNodes: ['10.0.0.0/8'] }))
    assert.equal(key({ allowedNodes: ['10.0.0.0/8', 'A.example'] }), key({ allowedNodes: ['a.example', '10.0.0.0/8'] }))
    assert.notEqual(key({}), key({ natMap: { 'a:1': { host: 'b', port: 1 } } }))
    assert.equal(key({ natMap: { 'a:1': { host: 'b', port: 1 } } }), key({ natMap: { 'a:1': { host: 'b', port: 1 } } }))
    const map = () => null
    assert.equal(key({ natMap: map }), key({ natMap: map }))
    assert.notEqual(key({ natMap: map }), key({ natMap: () => null }))
  })
})
