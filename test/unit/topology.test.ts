import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatAddress } from '../../src/protocol/address.js'
import { parseInfo, roleProblem } from '../../src/protocol/node-info.js'
import { pairs } from '../../src/protocol/reply.js'
import { parseSentinelEvent } from '../../src/protocol/sentinel-events.js'
import { parseReplicas, parseSentinels } from '../../src/protocol/sentinel-replies.js'
import { replicaProblem } from '../../src/routing/replica-health.js'
import { selectReplica } from '../../src/routing/replica-selection.js'
import { refreshSentinels, shuffle } from '../../src/sentinels/sentinel-order.js'

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

describe('selectReplica', () => {
  const all = parseReplicas([replica(1), replica(2), replica(3, { 'master-link-status': 'err' })])
  const port = (r: { port: number } | undefined) => r?.port
  it('never picks an ineligible replica', () => {
    for (let i = 0; i < 100; i++) assert.notEqual(port(selectReplica(all)), 3)
  })
  it('random: uniform among eligible ones', () => {
    assert.equal(port(selectReplica(all, { random: () => 0 })), 1)
    assert.equal(port(selectReplica(all, { random: () => 0.99 })), 2)
  })
  it('prefers replicas not being avoided, but uses an avoided one rather than none', () => {
    assert.equal(port(selectReplica(all, { avoid: new Set(['10.0.0.1:1']), random: () => 0 })), 2)
    assert.equal(port(selectReplica(all, { avoid: new Set(['10.0.0.1:1', '10.0.0.1:2']), random: () => 0 })), 1)
  })
  it('returns undefined when none is eligible', () => {
    assert.equal(selectReplica(parseReplicas([replica(9, { flags: 'slave,o_down' })])), undefined)
  })
  it('round-robin: takes eligible replicas in turn', () => {
    const turns = [0, 1, 2, 3].map((turn) => port(selectReplica(all, { selection: 'round-robin', turn })))
    assert.deepEqual(turns, [1, 2, 1, 2])
  })
  it('lowest-latency: measures unknown replicas first, then takes the fastest', () => {
    const latencies = new Map([['10.0.0.1:1', 5]])
    assert.equal(port(selectReplica(all, { selection: 'lowest-latency', latencies })), 2)
    latencies.set('10.0.0.1:2', 9)
    assert.equal(port(selectReplica(all, { selection: 'lowest-latency', latencies })), 1)
    latencies.set('10.0.0.1:2', 1)
    assert.equal(port(selectReplica(all, { selection: 'lowest-latency', latencies })), 2)
  })
  it('a function gets every replica with its state and is obeyed, even for an ineligible one', () => {
    let seen: { address: string; eligible: boolean; reason?: string | undefined }[] = []
    const chosen = selectReplica(all, {
      selection: (replicas) => {
        seen = replicas.map(({ address, eligible, reason }) => ({ address, eligible, reason }))
        return replicas.find((r) => r.port === 3)
      },
    })
    assert.equal(port(chosen), 3)
    assert.deepEqual(seen[2], { address: '10.0.0.1:3', eligible: false, reason: 'master link err' })
    assert.equal(selectReplica(all, { selection: () => undefined }), undefined)
  })
})

describe('freshness gates', () => {
  const [behind, linkDown] = parseReplicas([
    replica(1, { 'slave-repl-offset': '1000' }),
    replica(2, { 'master-link-status': 'err', 'master-link-down-time': '1500' }),
  ])
  it('maxLagBytes excludes a replica too far behind the master', () => {
    assert.equal(replicaProblem(behind!, { maxLagBytes: 100 }, 1050), undefined)
    assert.equal(replicaProblem(behind!, { maxLagBytes: 10 }, 1050), 'lag 50 bytes > maxLagBytes')
    assert.equal(replicaProblem(behind!, { maxLagBytes: 10 }), undefined, 'no master offset: no verdict')
  })
  it('maxLinkDownMs tolerates a link down for a short while', () => {
    assert.equal(replicaProblem(linkDown!), 'master link err')
    assert.equal(replicaProblem(linkDown!, { maxLinkDownMs: 2000 }), undefined)
    assert.equal(replicaProblem(linkDown!, { maxLinkDownMs: 1000 }), 'master link down 1500 ms > maxLinkDownMs')
  })
  it('roleProblem applies maxLinkDownMs to what the replica itself says', () => {
    const info = { role: 'slave', master_link_status: 'down', master_link_down_since_seconds: '1' }
    assert.equal(roleProblem('replica', info, { maxLinkDownMs: 2000 }), undefined)
    assert.equal(roleProblem('replica', info), 'master link down')
    assert.equal(
      roleProblem('replica', { ...info, master_link_down_since_seconds: '-1' }, { maxLinkDownMs: 2000 }),
      'master link down',
    )
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

describe('parseSentinelEvent', () => {
  it('reads +switch-master for our master only', () => {
    assert.deepEqual(parseSentinelEvent('+switch-master', 'mymaster 10.0.0.1 6379 10.0.0.2 6380', 'mymaster'), {
      type: 'switch-master',
      master: 'mymaster',
      newMaster: { host: '10.0.0.2', port: 6380, address: '10.0.0.2:6380' },
      from: '10.0.0.1:6379',
    })
    assert.equal(parseSentinelEvent('+switch-master', 'other 10.0.0.1 6379 10.0.0.2 6380', 'mymaster'), undefined)
    // Clients connect to the announced master: an unusable address is no announcement.
    assert.equal(parseSentinelEvent('+switch-master', 'mymaster 10.0.0.1 6379 10.0.0.2 0', 'mymaster'), undefined)
    assert.equal(parseSentinelEvent('+switch-master', 'mymaster 10.0.0.1 6379  6380', 'mymaster'), undefined)
  })
  it("reads the leader's +promoted-slave as the switch, for our master only", () => {
    const promoted = 'slave 10.0.0.2:6380 10.0.0.2 6380 @ mymaster 10.0.0.1 6379'
    assert.deepEqual(parseSentinelEvent('+promoted-slave', promoted, 'mymaster'), {
      type: 'switch-master',
      master: 'mymaster',
      newMaster: { host: '10.0.0.2', port: 6380, address: '10.0.0.2:6380' },
      from: '10.0.0.1:6379',
    })
    assert.equal(parseSentinelEvent('+promoted-slave', promoted, 'other'), undefined)
    assert.equal(
      parseSentinelEvent('+promoted-slave', 'slave 10.0.0.2:6380 10.0.0.2 x @ mymaster 10.0.0.1 6379', 'mymaster'),
      undefined,
    )
  })
  it('reads a replica +sdown, not a master or sentinel one', () => {
    const replica = 'slave 10.0.0.3:6381 10.0.0.3 6381 @ mymaster 10.0.0.1 6379'
    assert.deepEqual(parseSentinelEvent('+sdown', replica, 'mymaster'), {
      type: 'replica-down',
      master: 'mymaster',
      replica: '10.0.0.3:6381',
    })
    assert.equal(parseSentinelEvent('+sdown', 'master mymaster 10.0.0.1 6379', 'mymaster'), undefined)
    assert.equal(parseSentinelEvent('+sdown', replica, 'other'), undefined)
  })
})

describe('formatAddress', () => {
  it('brackets IPv6 hosts, everywhere an address is spelled', () => {
    assert.equal(formatAddress('10.0.0.1', 6379), '10.0.0.1:6379')
    assert.equal(formatAddress('::1', 6379), '[::1]:6379')
    assert.equal(formatAddress('redis-0.svc', 6379), 'redis-0.svc:6379')
    const [replica] = parseReplicas([['ip', 'fe80::1', 'port', '6380', 'flags', 'slave']])
    assert.equal(replica?.address, '[fe80::1]:6380')
    assert.deepEqual(parseSentinelEvent('+switch-master', 'm ::1 6379 ::2 6380', 'm'), {
      type: 'switch-master',
      master: 'm',
      newMaster: { host: '::2', port: 6380, address: '[::2]:6380' },
      from: '[::1]:6379',
    })
    assert.deepEqual(parseSentinelEvent('+sdown', 'slave [::3]:6381 ::3 6381 @ m ::1 6379', 'm'), {
      type: 'replica-down',
      master: 'm',
      replica: '[::3]:6381',
    })
  })
})

describe('refreshSentinels', () => {
  const at = (host: string, port: number, learned = false, lastSeen = 0) => ({ host, port, learned, lastSeen })
  it('adds the sentinels an answer reports at the end, keeps the order, marks them seen', () => {
    const known = [at('b', 2), at('a', 1)]
    const next = refreshSentinels(
      known,
      [
        { host: 'a', port: 1 },
        { host: 'c', port: 3 },
        { host: 'c', port: 3 },
      ],
      100,
      {
        goneMs: 50,
      },
    )
    assert.deepEqual(next, [at('b', 2), at('a', 1, false, 100), at('c', 3, true, 100)])
  })
  it('drops learned sentinels gone for long, never configured ones, and learns only allowed ones', () => {
    const known = [at('seed', 1, false, 0), at('old', 2, true, 0), at('fresh', 3, true, 90)]
    const next = refreshSentinels(
      known,
      [
        { host: '10.0.0.9', port: 4 },
        { host: '127.0.0.2', port: 5 },
      ],
      100,
      {
        goneMs: 50,
        allowed: (host) => host.startsWith('10.'),
      },
    )
    assert.deepEqual(
      next.map((s) => s.host),
      ['seed', 'fresh', '10.0.0.9'],
    )
  })
  it('parses SENTINEL SENTINELS, leaving out entries without an address', () => {
    const reply = [
      ['name', 'x', 'ip', '10.0.0.2', 'port', '26379', 'flags', 'sentinel'],
      ['ip', '', 'port', '26379'],
      'garbage',
    ]
    assert.deepEqual(parseSentinels(reply), [{ host: '10.0.0.2', port: 26379 }])
  })
})
