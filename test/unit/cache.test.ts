import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InFlight } from '../../src/cache/in-flight.js'
import { Lru, sizeOf } from '../../src/cache/lru.js'

const limits = { maxEntries: 3, maxBytes: 1_000_000, ttlMs: 1000 }

describe('client cache: the LRU', () => {
  it('serves what it holds until its TTL, and counts entries and bytes', () => {
    const lru = new Lru(limits)
    lru.set('get a', ['a'], 'x', undefined, 0)
    assert.equal(lru.get('get a', 999)?.value, 'x')
    assert.equal(lru.stats.entries, 1)
    assert.ok(lru.stats.bytes > sizeOf('x'))
    assert.equal(lru.get('get a', 1000), undefined)
    assert.deepEqual({ ...lru.stats, bytes: 0 }, { entries: 0, bytes: 0, hits: 0, misses: 0, evictions: 0, flushes: 0 })
  })

  it('evicts the least recently used beyond maxEntries', () => {
    const lru = new Lru(limits)
    for (const k of ['a', 'b', 'c']) lru.set(`get ${k}`, [k], k, undefined, 0)
    lru.get('get a', 1) // a is now the most recent: b is the oldest
    lru.set('get d', ['d'], 'd', undefined, 0)
    assert.equal(lru.get('get b', 1), undefined)
    assert.equal(lru.get('get a', 1)?.value, 'a')
    assert.equal(lru.stats.entries, 3)
    assert.equal(lru.stats.evictions, 1)
  })

  it('evicts beyond maxBytes, and never holds a value larger than maxBytes', () => {
    const lru = new Lru({ ...limits, maxEntries: 100, maxBytes: 1000 })
    lru.set('get big', ['big'], 'x'.repeat(600), undefined, 0)
    assert.equal(lru.stats.entries, 0)
    lru.set('get a', ['a'], 'x'.repeat(200), undefined, 0)
    lru.set('get b', ['b'], 'x'.repeat(200), undefined, 0)
    lru.set('get c', ['c'], 'x'.repeat(200), undefined, 0)
    assert.ok(lru.stats.bytes <= 1000)
    assert.equal(lru.get('get a', 0), undefined)
    assert.ok(lru.stats.evictions >= 1)
  })

  it('an invalidation drops every entry that depends on the key (MGET too), and only those', () => {
    const lru = new Lru({ ...limits, maxEntries: 10 })
    lru.set('get a', ['a'], '1', undefined, 0)
    lru.set('mget a b', ['a', 'b'], ['1', '2'], undefined, 0)
    lru.set('get b', ['b'], '2', undefined, 0)
    assert.equal(lru.invalidate('a'), 2)
    assert.equal(lru.get('mget a b', 0), undefined)
    assert.equal(lru.get('get b', 0)?.value, '2')
    assert.equal(lru.invalidate('a'), 0)
    assert.equal(lru.stats.entries, 1)
  })

  it('a flush drops everything and is counted; replacing an entry keeps the counts right', () => {
    const lru = new Lru({ ...limits, maxEntries: 10 })
    lru.set('get a', ['a'], '1', undefined, 0)
    lru.set('get a', ['a'], '22', undefined, 0)
    assert.equal(lru.stats.entries, 1)
    assert.equal(lru.get('get a', 0)?.value, '22')
    lru.flush()
    assert.equal(lru.get('get a', 0), undefined)
    assert.equal(lru.stats.entries, 0)
    assert.equal(lru.stats.bytes, 0)
    assert.equal(lru.stats.flushes, 1)
  })

  it('estimates sizes of strings, arrays, objects and maps', () => {
    assert.equal(sizeOf('abcd'), 8)
    assert.ok(sizeOf(['ab', 'cd']) > 8)
    assert.ok(sizeOf({ f: 'v' }) > 4)
    assert.ok(sizeOf(new Map([['f', 'v']])) > 4)
    assert.equal(sizeOf(null), 0)
  })
})

describe('client cache: reads in flight', () => {
  it('a reply may be cached when nothing touched its keys while in flight', () => {
    const reads = new InFlight()
    assert.equal(reads.end(reads.start(['a'])), true)
  })

  it('an invalidation of one of its keys while in flight keeps the reply out (the redirect race)', () => {
    const reads = new InFlight()
    const a = reads.start(['a', 'b'])
    const c = reads.start(['c'])
    reads.invalidate('b')
    assert.equal(reads.end(a), false)
    assert.equal(reads.end(c), true)
    const later = reads.start(['b'])
    assert.equal(reads.end(later), true) // sent after the invalidation
  })

  it('a flush while in flight keeps every reply out, not the reads sent after it', () => {
    const reads = new InFlight()
    const before = reads.start(['a'])
    reads.flush()
    const after = reads.start(['a'])
    assert.equal(reads.end(before), false)
    assert.equal(reads.end(after), true)
  })

  it('a read of a key answered keeps out the replies of the reads of it sent before, not after (monotonic reads)', () => {
    const reads = new InFlight()
    const before = reads.start(['a'])
    const other = reads.start(['b'])
    const answered = reads.next()
    const after = reads.start(['a'])
    assert.equal(reads.idle, false)
    reads.supersede('a', answered)
    assert.equal(reads.end(before), false)
    assert.equal(reads.end(other), true)
    assert.equal(reads.end(after), true)
    assert.equal(reads.idle, true)
  })
})
