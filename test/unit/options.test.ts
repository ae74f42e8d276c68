import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidOptionError, TwiceRedis } from '../../src/index.js'
import { credentialsFor, normalize, parseSentinel } from '../../src/options/normalize.js'
import { checkProtocols, resp3Installed } from '../../src/options/protocol.js'
import { sentinelKey } from '../../src/sentinels/registry.js'

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
  it('rejects every ioredis option twiceredis sets itself, wherever it appears', () => {
    for (const key of ['sentinelPassword', 'sentinelUsername', 'preferredSlaves', 'failoverDetector']) {
      rejects({ ...base, redisOptions: { [key]: 'x' } }, `redisOptions.${key}`)
      rejects({ ...base, masterOptions: { [key]: 'x' } }, `masterOptions.${key}`)
      rejects({ ...base, replicaOptions: { [key]: 'x' } }, `replicaOptions.${key}`)
    }
    assert.throws(() => normalize({ ...base, host: 'h' } as never), {
      option: 'host',
      message: /sets it itself|finds the nodes/,
    })
  })
  const ioredis5 = resp3Installed ? false : 'ioredis 5 speaks RESP2 only: its refusal is tested below'
  it("accepts ioredis 6's protocol and replyMapping, at the top level and per side", { skip: ioredis5 }, () => {
    const o = normalize({ ...base, protocol: 3, replyMapping: 'resp3' })
    assert.deepEqual(o.redisOptions, { protocol: 3, replyMapping: 'resp3' })
    normalize({ ...base, protocol: 2, replyMapping: 'legacy' })
    normalize({ ...base, redisOptions: { protocol: 3, replyMapping: 'resp3' } })
    normalize({ ...base, masterOptions: { protocol: 3, replyMapping: 'resp3' } })
    normalize({ ...base, replicaOptions: { protocol: 2 } })
  })
  it('refuses a reply mapping it cannot honour, saying why', { skip: ioredis5 }, () => {
    rejects({ ...base, replyMapping: 'objects' }, 'replyMapping')
    rejects({ ...base, protocol: 4 }, 'protocol')
    assert.throws(() => normalize({ ...base, protocol: 2, replyMapping: 'resp3' } as never), {
      option: 'replyMapping',
      message: /only supported with protocol 3/,
    })
    assert.throws(
      () => normalize({ ...base, masterOptions: { protocol: 2 }, redisOptions: { replyMapping: 'resp3' } }),
      {
        option: 'redisOptions.replyMapping',
      },
    )
    // A read the session moves to the master is answered in the master's shapes: they must be the replica's.
    assert.throws(
      () => normalize({ ...base, consistency: 'session', protocol: 3, masterOptions: { replyMapping: 'resp3' } }),
      { option: 'replyMapping', message: /same on both sides/ },
    )
    normalize({ ...base, consistency: 'session', protocol: 3, replyMapping: 'resp3' })
  })
  it('says why protocol and replyMapping are refused with ioredis 5', () => {
    assert.throws(() => checkProtocols(normalize({ ...base, protocol: 3 }), false, { protocol: 3 }), {
      option: 'protocol',
      message: /ioredis 5 speaks RESP2 only/,
    })
    checkProtocols(normalize(base), false, {})
    checkProtocols(normalize({ ...base, protocol: 2 }), false, { protocol: 2 })
  })
  it('takes ioredis options at the top level, where ioredis users write them', () => {
    const o = normalize({ ...base, maxRetriesPerRequest: null, keyPrefix: 'app:', tls: {}, enableAutoPipelining: true })
    assert.deepEqual(o.redisOptions, {
      maxRetriesPerRequest: null,
      keyPrefix: 'app:',
      tls: {},
      enableAutoPipelining: true,
    })
    const explicit = normalize({ ...base, keyPrefix: 'top:', redisOptions: { keyPrefix: 'explicit:' } })
    assert.equal(explicit.redisOptions.keyPrefix, 'explicit:')
    for (const key of ['host', 'port', 'Connector', 'role', 'enableReadyCheck']) {
      assert.throws(() => normalize({ ...base, [key]: 1 } as never), { option: key, message: /finds the nodes/ })
    }
  })
  it("failoverDetection: 'always' by default (and for true), 'outage' or false; failoverFenceMs a positive duration", () => {
    assert.equal(normalize(base).failoverDetection, 'always')
    assert.equal(normalize({ ...base, failoverDetection: true }).failoverDetection, 'always')
    assert.equal(normalize({ ...base, failoverDetection: 'outage' }).failoverDetection, 'outage')
    assert.equal(normalize({ ...base, failoverDetection: false }).failoverDetection, false)
    rejects({ ...base, failoverDetection: 'sometimes' }, 'failoverDetection')
    assert.equal(normalize(base).failoverFenceMs, 5000)
    rejects({ ...base, failoverFenceMs: 0 }, 'failoverFenceMs')
    rejects({ ...base, failoverFenceMs: 'soon' }, 'failoverFenceMs')
  })

  it('names the closest known option for a typo', () => {
    assert.throws(() => normalize({ ...base, readFalback: false } as never), { message: /did you mean `readFallback`/ })
    assert.throws(() => normalize({ ...base, maxRetriesPerRequests: 1 } as never), {
      message: /did you mean `maxRetriesPerRequest`/,
    })
    assert.throws(() => normalize({ ...base, zzzzzzzzzz: 1 } as never), {
      code: 'INVALID_OPTION',
      option: 'zzzzzzzzzz',
    })
  })
  it('clientCache: off by default, true for the defaults, each limit validated by name', () => {
    assert.equal(normalize(base).clientCache, undefined)
    assert.equal(normalize({ ...base, clientCache: false }).clientCache, undefined)
    assert.deepEqual(normalize({ ...base, clientCache: true }).clientCache, {
      maxEntries: 10_000,
      maxBytes: 64 * 1024 * 1024,
      ttlMs: 300_000,
      heardWithinMs: 1000, // half of connectTimeoutMs' default
    })
    assert.deepEqual(normalize({ ...base, clientCache: { maxEntries: 5 } }).clientCache, {
      maxEntries: 5,
      maxBytes: 64 * 1024 * 1024,
      ttlMs: 300_000,
      heardWithinMs: 1000, // half of connectTimeoutMs' default
    })
    const bounded = normalize({ ...base, clientCache: true, maxStalenessMs: 600, healthCheckIntervalMs: 200 })
    assert.equal(bounded.clientCache?.heardWithinMs, 300)
    rejects({ ...base, clientCache: 'yes' }, 'clientCache')
    rejects({ ...base, clientCache: null }, 'clientCache')
    rejects({ ...base, clientCache: { maxEntries: 0 } }, 'clientCache.maxEntries')
    rejects({ ...base, clientCache: { maxBytes: 1.5 } }, 'clientCache.maxBytes')
    rejects({ ...base, clientCache: { ttlMs: -1 } }, 'clientCache.ttlMs')
    rejects({ ...base, clientCache: { maxEntrys: 1 } }, 'clientCache.maxEntrys')
  })
  it('resolves every option it knows, and only those', () => {
    const o = normalize({ ...base, sentinelTls: true, maxLagBytes: 10 })
    assert.deepEqual(o.sentinelTls, {})
    assert.equal(o.maxLagBytes, 10)
    assert.equal(o.healthCheckIntervalMs, 1000)
    assert.deepEqual(o.redisOptions, {})
  })
})

describe('sentinelKey', () => {
  it('separates instances whose discoveries differ: the lag gate asks more, the timeout bounds it', () => {
    const key = (extra = {}) => sentinelKey(normalize({ ...base, ...extra }))
    assert.equal(key(), key({ readFallback: false }))
    assert.notEqual(key(), key({ maxLagBytes: 100 }))
    assert.notEqual(key(), key({ sentinelTimeoutMs: 100 }))
    assert.notEqual(key(), key({ sentinelPassword: 'x' }))
    assert.equal(key({ sentinels: ['a:1', 'b:2'] }), key({ sentinels: ['b:2', 'a:1'] }))
  })
})

describe('TwiceRedis constructor', () => {
  it('throws INVALID_OPTION for bad arguments without connecting', () => {
    assert.throws(() => new TwiceRedis('', ['h:1']), { code: 'INVALID_OPTION' })
    assert.throws(() => new TwiceRedis('m', 'h:1' as never), { code: 'INVALID_OPTION' })
  })
})

describe('credentials and db of each side', () => {
  it('the most specific place wins: masterOptions/replicaOptions, then redisOptions, then the top level', () => {
    const o = normalize({
      ...base,
      password: 'top',
      db: 1,
      redisOptions: { username: 'app', password: 'both' },
      replicaOptions: { password: 'reads', db: 3 },
    })
    assert.deepEqual(credentialsFor(o, 'master'), { username: 'app', password: 'both', db: 1 })
    assert.deepEqual(credentialsFor(o, 'replica'), { username: 'app', password: 'reads', db: 3 })
    assert.deepEqual(credentialsFor(normalize({ ...base, password: 'top' }), 'master'), {
      username: undefined,
      password: 'top',
      db: 0,
    })
  })

  it('rejects a username, password or db of the wrong type with INVALID_OPTION naming where it is', () => {
    rejects({ ...base, redisOptions: { db: -1 } }, 'redisOptions.db')
    rejects({ ...base, masterOptions: { password: 42 } }, 'masterOptions.password')
    rejects({ ...base, replicaOptions: { username: {} } }, 'replicaOptions.username')
  })

  // Fourth red team (issue 27): duplicate({ role: 'slave' }) gave a write connection, silently.
  it('duplicate() rejects the options twiceredis sets itself, as everywhere else (INVALID_OPTION)', () => {
    const tr = new TwiceRedis('m', ['127.0.0.1:1'])
    for (const [key, value] of [
      ['role', 'slave'],
      ['host', '10.0.0.1'],
      ['port', 6380],
      ['sentinels', []],
    ] as const) {
      assert.throws(() => tr.master.duplicate({ [key]: value }), { code: 'INVALID_OPTION', message: new RegExp(key) })
    }
    // The client's own options passed back (duplicate({ ...client.options, ... })) are no override.
    const copy = tr.slave.duplicate({ ...tr.slave.options, connectionName: 'copy' })
    assert.equal(copy.options.connectionName, 'copy')
    copy.disconnect()
    tr.disconnect()
  })
})
