import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidOptionError, TwiceRedis } from '../../src/index.js'
import { normalize, parseSentinel } from '../../src/options.js'

const base = { name: 'mymaster', sentinels: ['127.0.0.1:26379'] }

function rejects(config: unknown, option: string) {
  assert.throws(
    () => normalize(config as never),
    (err: unknown) => err instanceof InvalidOptionError && err.code === 'INVALID_OPTION' && err.option === option,
  )
}

describe('parseSentinel', () => {
  it('accepts tuples, objects and host:port strings', () => {
    assert.deepEqual(parseSentinel(['10.0.0.1', 26380]), { host: '10.0.0.1', port: 26380 })
    assert.deepEqual(parseSentinel({ host: 'a', port: 1 }), { host: 'a', port: 1 })
    assert.deepEqual(parseSentinel('b:2'), { host: 'b', port: 2 })
    assert.deepEqual(parseSentinel('[::1]:3'), { host: '::1', port: 3 })
  })
  it('defaults the port to 26379', () => {
    assert.deepEqual(parseSentinel('c'), { host: 'c', port: 26379 })
    assert.deepEqual(parseSentinel({ host: 'c' }), { host: 'c', port: 26379 })
  })
})

describe('normalize', () => {
  it('fills in defaults', () => {
    const o = normalize(base)
    assert.equal(o.readFallback, true)
    assert.equal(o.sentinelTimeoutMs, 500)
    assert.equal(o.db, 0)
  })
  it('names the bad option', () => {
    rejects({ ...base, name: '' }, 'name')
    rejects({ ...base, sentinels: [] }, 'sentinels')
    rejects({ ...base, sentinels: ['host:99999'] }, 'sentinels[0]')
    rejects({ ...base, sentinels: ['ok:1', ['x']] }, 'sentinels[1]')
    rejects({ ...base, db: -1 }, 'db')
    rejects({ ...base, sentinelTimeoutMs: 0 }, 'sentinelTimeoutMs')
    rejects({ ...base, readFallback: 'no' }, 'readFallback')
    rejects({ ...base, password: 42 }, 'password')
    rejects({ ...base, redisOptions: { port: 1 } }, 'redisOptions.port')
    rejects({ ...base, readFalback: false }, 'readFalback')
  })
})

describe('TwiceRedis constructor', () => {
  it('throws INVALID_OPTION for bad arguments without connecting', () => {
    assert.throws(() => new TwiceRedis('', ['h:1']), { code: 'INVALID_OPTION' })
    assert.throws(() => new TwiceRedis('m', 'h:1' as never), { code: 'INVALID_OPTION' })
  })
})
