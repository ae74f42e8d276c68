import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  pairs,
  parseInfo,
  parseReplicas,
  pickReplica,
  replicaProblem,
  roleProblem,
  shuffle,
} from '../../src/topology.js'

const replica = (port: number, fields: Record<string, string> = {}) =>
  Object.entries({ ip: '10.0.0.1', port: String(port), flags: 'slave', 'master-link-status': 'ok', ...fields }).flat()

describe('parseReplicas', () => {
  it('reads address, flags, link and offsets from SENTINEL REPLICAS', () => {
    const [r] = parseReplicas([
      replica(6380, { 'master-link-down-time': '0', 'slave-repl-offset': '1234', 'slave-priority': '50' }),
    ])
    assert.equal(r?.address, '10.0.0.1:6380')
    assert.deepEqual(r?.flags, ['slave'])
    assert.equal(r?.linkStatus, 'ok')
    assert.equal(r?.offset, 1234)
    assert.equal(r?.priority, 50)
  })

  it('returns nothing for a non-array reply', () => {
    assert.deepEqual(parseReplicas(null), [])
  })
})

describe('replicaProblem', () => {
  const [ok, sdown, odown, disconnected, linkErr] = parseReplicas([
    replica(1),
    replica(2, { flags: 'slave,s_down' }),
    replica(3, { flags: 's_down,slave,o_down' }),
    replica(4, { flags: 'slave,disconnected' }),
    replica(5, { 'master-link-status': 'err' }),
  ])
  it('accepts a replica with clean flags and an ok link', () => assert.equal(replicaProblem(ok!), undefined))
  it('rejects s_down, o_down and disconnected', () => {
    assert.equal(replicaProblem(sdown!), 'flagged s_down')
    assert.equal(replicaProblem(odown!), 'flagged s_down')
    assert.equal(replicaProblem(disconnected!), 'flagged disconnected')
  })
  it('rejects a broken master link', () => assert.equal(replicaProblem(linkErr!), 'master link err'))
})

describe('pickReplica', () => {
  const all = parseReplicas([replica(1), replica(2), replica(3, { 'master-link-status': 'err' })])
  it('never picks an ineligible replica', () => {
    for (let i = 0; i < 100; i++) assert.notEqual(pickReplica(all)?.port, 3)
  })
  it('picks uniformly among eligible ones', () => {
    assert.equal(pickReplica(all, new Set(), () => 0)?.port, 1)
    assert.equal(pickReplica(all, new Set(), () => 0.99)?.port, 2)
  })
  it('prefers replicas not being avoided, but uses an avoided one rather than none', () => {
    assert.equal(pickReplica(all, new Set(['10.0.0.1:1']), () => 0)?.port, 2)
    assert.equal(pickReplica(all, new Set(['10.0.0.1:1', '10.0.0.1:2']), () => 0)?.port, 1)
  })
  it('returns undefined when none is eligible', () => {
    assert.equal(pickReplica(parseReplicas([replica(9, { flags: 'slave,o_down' })])), undefined)
  })
})

describe('roleProblem', () => {
  it('wants role master on the write side', () => {
    assert.equal(roleProblem('master', { role: 'master' }), undefined)
    assert.equal(roleProblem('master', { role: 'slave' }), 'reports role slave')
  })
  it('wants a replica with its master link up on the read side', () => {
    assert.equal(roleProblem('replica', { role: 'slave', master_link_status: 'up' }), undefined)
    assert.equal(roleProblem('replica', { role: 'slave', master_link_status: 'down' }), 'master link down')
    assert.equal(roleProblem('replica', { role: 'master' }), 'reports role master')
  })
})

describe('helpers', () => {
  it('pairs turns a flat reply into an object', () => assert.deepEqual(pairs(['a', '1', 'b', 2]), { a: '1', b: '2' }))
  it('parseInfo reads INFO text', () =>
    assert.deepEqual(parseInfo('# Replication\r\nrole:slave\r\nmaster_host:1.2.3.4\r\n'), {
      role: 'slave',
      master_host: '1.2.3.4',
    }))
  it('shuffle keeps every element', () => {
    const items = [1, 2, 3, 4, 5]
    assert.deepEqual(shuffle(items).sort(), items)
    assert.deepEqual(items, [1, 2, 3, 4, 5])
  })
})
