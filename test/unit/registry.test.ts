import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { normalize } from '../../src/options/normalize.js'
import { FALLBACK_POLL_MS, RETRY_REUSE_MS } from '../../src/routing/answer-reuse.js'
import { samplerFor } from '../../src/routing/master-sampler.js'
import { Resolver } from '../../src/routing/resolver.js'
import { announceMaster, RETIRE_MS, type SentinelSet, sentinelSetFor } from '../../src/sentinels/registry.js'
import type { Observation } from '../../src/sentinels/sentinel-query.js'
import { Sentinels } from '../../src/sentinels/sentinels.js'

const node = (host: string, port: number) => ({ host, port, address: `${host}:${port}` })
const replica = (host: string, port: number) =>
  ({
    ...node(host, port),
    flags: ['slave'],
    linkStatus: 'ok',
    linkDownMs: 0,
    offset: 90,
    priority: 100,
    raw: {},
  }) as Observation['replicas'][number]

function answered(): SentinelSet {
  const value: Observation = {
    sentinel: '10.0.0.9:26379',
    master: node('10.0.0.1', 6379),
    replicas: [replica('10.0.0.2', 6379), replica('10.0.0.3', 6379)],
    masterOffset: 100,
    sentinels: [],
  }
  return { last: { at: 1, value } }
}

describe('the shared sentinel answer', () => {
  it('an announced switch becomes the latest answer: new master, the promoted node no longer a replica', () => {
    const set = answered()
    announceMaster(set, node('10.0.0.2', 6379), '10.0.0.8:26379')
    const last = set.last!
    assert.ok(last.at > 1)
    assert.equal(last.value.master.address, '10.0.0.2:6379')
    assert.equal(last.value.sentinel, '10.0.0.8:26379')
    assert.deepEqual(
      last.value.replicas.map((r) => r.address),
      ['10.0.0.3:6379'],
    )
    assert.equal(last.value.masterOffset, 100, 'the lag gate keeps an offset to judge by')
  })

  it("reusing an announced switch moves no sentinel to the front (the next outage is not all the leader's)", async () => {
    const options = normalize({ name: 'announced', sentinels: ['10.0.0.7:1', '10.0.0.8:2', '10.0.0.9:3'] })
    const set = sentinelSetFor(options)
    const sentinels = new Sentinels(options, set)
    const [first, , last] = sentinels.addresses
    set.last = { at: Date.now(), value: { ...answered().last!.value, sentinel: first!, sentinels: [] } }
    announceMaster(set, node('10.0.0.2', 6379), last!)
    assert.equal((await sentinels.observe(1000)).master.address, '10.0.0.2:6379')
    assert.equal(sentinels.addresses[0], first)
  })

  it('an announcement of the master already known changes nothing; with no answer yet, it is the answer', () => {
    const set = answered()
    const before = set.last
    announceMaster(set, node('10.0.0.1', 6379), '10.0.0.8:26379')
    assert.equal(set.last, before)
    assert.equal(set.retired, undefined)
    const empty: SentinelSet = {}
    announceMaster(empty, node('10.0.0.2', 6379), '10.0.0.8:26379', '10.0.0.1:6379')
    assert.equal(empty.last?.value.master.address, '10.0.0.2:6379')
    assert.deepEqual(empty.last?.value.replicas, [])
  })

  it('the master an announcement replaced is retired for a while (sentinels that have not heard still name it)', () => {
    const set = answered()
    const before = Date.now()
    announceMaster(set, node('10.0.0.2', 6379), '10.0.0.8:26379')
    assert.equal(set.retired?.address, '10.0.0.1:6379')
    assert.equal(set.retired?.master.address, '10.0.0.2:6379')
    assert.ok(set.retired!.until >= before + RETIRE_MS)
  })

  it('a node that says it is not the master drops the answer that names it, and only that one', () => {
    const options = normalize({ name: 'forget', sentinels: ['10.0.0.7:1'] })
    const set = answered()
    announceMaster(set, node('10.0.0.2', 6379), '10.0.0.8:26379')
    const sentinels = new Sentinels(options, set)
    sentinels.forget('10.0.0.3:6379')
    assert.ok(set.last)
    assert.ok(set.retired)
    sentinels.forget('10.0.0.2:6379')
    assert.equal(set.last, undefined)
    assert.equal(set.retired, undefined, 'the announcement was wrong: nothing is retired for it')
  })
})

describe('how old a sentinel answer an attempt may take', () => {
  const resolver = new Resolver({} as never, {} as never, () => {})
  const first = { retry: false, afterSwitch: false }
  const retry = { retry: true, afterSwitch: false }
  const afterSwitch = { retry: true, afterSwitch: true }

  it('a first connect asks afresh; so does the read side right after a switch', () => {
    assert.equal(resolver.reuseMs('master', first), 0)
    assert.equal(resolver.reuseMs('replica', first, Date.now() - 10_000), 0)
    assert.equal(resolver.reuseMs('replica', afterSwitch, Date.now() - 10_000), 0)
  })

  it('a retry may share an answer a few hundred ms old; the write side, any since the watch listens, up to the slow poll', () => {
    assert.equal(resolver.reuseMs('master', retry), RETRY_REUSE_MS)
    assert.equal(resolver.reuseMs('replica', retry, Date.now() - 2000), RETRY_REUSE_MS)
    const listening = resolver.reuseMs('master', retry, Date.now() - 2000)
    assert.ok(listening >= 2000 && listening < 2100, String(listening))
    assert.equal(resolver.reuseMs('master', afterSwitch, Date.now() - 60_000), FALLBACK_POLL_MS)
    assert.equal(resolver.reuseMs('master', retry, Date.now()), RETRY_REUSE_MS, 'never less than any retry')
  })
})

describe('the master sampler of a process', () => {
  it('one per sentinel set, shared by every member, forgotten when the last one leaves', async () => {
    const o = normalize({
      name: 'sampled',
      sentinels: ['10.9.0.1:26379'],
      maxStalenessMs: 400,
      healthCheckIntervalMs: 200,
    })
    const asked: number[] = []
    // A member whose sentinels name no master it may reach: no connection is opened.
    const member = (intervalMs: number) => ({
      intervalMs,
      master: async (maxAgeMs: number) => {
        asked.push(maxAgeMs)
        return undefined
      },
      connection: () => ({}),
      sampled: () => {},
      watching: () => {},
    })
    const sampler = samplerFor(o)
    assert.equal(samplerFor(o), sampler)
    const leaveA = sampler.join(member(200))
    const leaveB = sampler.join(member(100))
    assert.equal(sampler.members, 2)
    await new Promise((r) => setTimeout(r, 5))
    assert.deepEqual(asked.slice(0, 1), [200], 'the first sample at once, an answer up to an interval old')
    leaveA()
    leaveA() // twice: once
    assert.equal(sampler.members, 1)
    leaveB()
    assert.equal(sampler.members, 0)
    assert.notEqual(samplerFor(o), sampler, 'a new sampler once the last member left')
  })
})
