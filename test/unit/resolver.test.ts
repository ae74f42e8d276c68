import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { normalize } from '../../src/options/normalize.js'
import { Resolver } from '../../src/routing/resolver.js'
import { sentinelSetFor } from '../../src/sentinels/registry.js'
import type { Observation } from '../../src/sentinels/sentinel-query.js'
import { type Refusal, Sentinels } from '../../src/sentinels/sentinels.js'

const node = (host: string, port: number) => ({ host, port, address: `${host}:${port}` })
const answer = (sentinel: string, master: string): Observation => ({
  sentinel,
  master: node(master, 6379),
  replicas: [],
  sentinels: [],
})

describe('Resolver', () => {
  it('blames a master refused on the way to ready on the sentinel that named it, not on whichever answer a client of the side took last', async () => {
    // tr.master and its duplicates share one Resolver: a duplicate resolving after tr.master must
    // not change which sentinel tr.master's failed attempt is held against.
    const options = normalize({ name: 'resolver-blame', sentinels: ['10.0.0.7:1', '10.0.0.8:2'] })
    const set = sentinelSetFor(options)
    const refused: Refusal[] = []
    const resolver = new Resolver(options, new Sentinels(options, set, undefined, (r) => refused.push(r)), () => {})
    set.last = { at: Date.now(), value: answer('10.0.0.7:1', '10.0.0.1') }
    const stale = await resolver.resolve('master', 60_000)
    set.last = { at: Date.now(), value: answer('10.0.0.8:2', '10.0.0.2') }
    await resolver.resolve('master', 60_000)
    resolver.reject('master', stale, 'reports role slave', true, true)
    assert.deepEqual(refused, [{ sentinel: '10.0.0.7:1', master: '10.0.0.1:6379', reason: 'reports role slave' }])
  })

  it("a duplicate's resolve is not where the side is: only the side's own client moves it (one replica-changed, not one per client)", async () => {
    // tr.slave and a duplicate of it share one Resolver; under round-robin each resolve of theirs
    // lands on another replica. Only tr.slave's say where the read side is.
    const options = normalize({ name: 'resolver-owner', sentinels: ['10.0.0.7:1'], replicaSelection: 'round-robin' })
    const set = sentinelSetFor(options)
    const changed: unknown[] = []
    const emit = ((event: string, payload: unknown) => event === 'replica-changed' && changed.push(payload)) as never
    const resolver = new Resolver(options, new Sentinels(options, set, undefined, () => {}), emit)
    const replica = (host: string) => ({
      ...node(host, 6379),
      flags: ['slave'],
      linkStatus: 'ok',
      linkDownMs: 0,
      offset: 100,
      priority: 100,
      raw: {},
    })
    set.last = {
      at: Date.now(),
      value: { ...answer('10.0.0.7:1', '10.0.0.1'), replicas: [replica('10.0.0.2'), replica('10.0.0.3')] },
    }
    const own = await resolver.resolve('replica', 60_000)
    for (let i = 0; i < 4; i++) await resolver.resolve('replica', 60_000, false)
    assert.equal(changed.length, 1)
    assert.deepEqual(changed[0], { from: undefined, to: own.address })
    // The duplicates took turns of their own: the side's next resolve takes the next replica.
    const next = await resolver.resolve('replica', 60_000)
    assert.notEqual(next.address, own.address)
    assert.equal(changed.length, 2)
  })
})
