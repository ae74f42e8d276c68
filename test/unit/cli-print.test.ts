import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatLag, formatStaleness, summary } from '../../src/cli/print.js'
import type { Topology } from '../../src/index.js'
import { reportReplicas } from '../../src/routing/replica-health.js'

const replica = (address: string) => {
  const [host, port] = address.split(':')
  return {
    address,
    host: host!,
    port: Number(port),
    flags: ['slave'],
    linkStatus: 'ok',
    linkDownMs: 0,
    offset: 0,
    priority: 100,
    raw: {},
  }
}

describe('twiceredis watch: the one-line summary', () => {
  it('never lists the master among the replicas (a sentinel may list the promoted one for a moment)', () => {
    const topology: Topology = {
      name: 'mymaster',
      master: { address: '127.0.0.1:2' },
      replicas: reportReplicas([replica('127.0.0.1:2'), replica('127.0.0.1:3')]),
      sentinels: [],
      connected: { master: undefined, replica: undefined },
    }
    assert.equal(summary(topology), 'master 127.0.0.1:2, replicas 127.0.0.1:3')
  })
})

describe('twiceredis status: the LAG column', () => {
  it("a measured lag as is; the sentinels' figure marked as such, with its age", () => {
    assert.equal(formatLag(0, { bytes: 0, from: 'replica' }), '0 B')
    assert.equal(formatLag(640, { bytes: 640, from: 'sentinel', ageMs: 812 }), '~640 B (sentinels, 812 ms old)')
    assert.equal(formatLag(640, { bytes: 640, from: 'sentinel' }), '~640 B (sentinels, age unknown)')
    assert.equal(formatLag(undefined), '?')
  })
})

describe('twiceredis status: the STALENESS column', () => {
  it("the estimate with where the master's offset came from", () => {
    assert.equal(formatStaleness(120, 'sampler'), '~120 ms (master offset: sampler)')
    assert.equal(formatStaleness(0, 'sentinels'), '~0 ms (master offset: sentinels)')
    assert.equal(formatStaleness(undefined, undefined), '? (no master offset yet)')
  })
})
