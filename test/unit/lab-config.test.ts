import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { dataNodeConfig, sentinelConfig } from '../../src/lab/config.js'
import { dataNodeHost, resolve } from '../../src/lab/options.js'

const sentinel = {
  port: 26379,
  dir: '/tmp/lab',
  name: 'sentinel-1',
  masterName: 'mymaster',
  masterPort: 6379,
  quorum: 2,
  downAfterMs: 1000,
  failoverTimeoutMs: 3000,
}

describe('lab config files', () => {
  it('name nodes by address by default', () => {
    assert.match(sentinelConfig(sentinel), /^sentinel monitor mymaster 127\.0\.0\.1 6379 2$/m)
    assert.doesNotMatch(sentinelConfig(sentinel), /hostnames/)
    const replica = dataNodeConfig({ port: 6380, dir: '/tmp/lab', name: 'r', replicaOf: 6379, replTimeoutSec: 5 })
    assert.match(replica, /^replicaof 127\.0\.0\.1 6379$/m)
    assert.doesNotMatch(replica, /announce/)
  })

  it('with a host name, announce it everywhere and let sentinels resolve it before monitoring', () => {
    const text = sentinelConfig({ ...sentinel, hostname: 'localhost' })
    const lines = text.split('\n')
    const monitor = lines.indexOf('sentinel monitor mymaster localhost 6379 2')
    assert.ok(monitor > 0, text)
    assert.ok(lines.indexOf('sentinel resolve-hostnames yes') >= 0)
    assert.ok(lines.indexOf('sentinel resolve-hostnames yes') < monitor, 'resolve-hostnames must precede monitor')
    assert.ok(lines.includes('sentinel announce-hostnames yes'))
    assert.ok(lines.includes('sentinel announce-ip localhost'))
    const replica = dataNodeConfig({
      port: 6380,
      dir: '/tmp/lab',
      name: 'r',
      replicaOf: 6379,
      replTimeoutSec: 5,
      hostname: 'localhost',
    })
    assert.match(replica, /^replicaof localhost 6379$/m)
    assert.match(replica, /^replica-announce-ip localhost$/m)
  })

  it("set tcp-backlog only when asked (Redis' own 511 otherwise), and refuse a backlog that is no count", () => {
    const node = { port: 6380, dir: '/tmp/lab', name: 'r', replTimeoutSec: 5 }
    assert.doesNotMatch(dataNodeConfig(node), /tcp-backlog/)
    assert.match(dataNodeConfig({ ...node, tcpBacklog: 4096 }), /^tcp-backlog 4096$/m)
    assert.equal(resolve({ tcpBacklog: 4096 }).tcpBacklog, 4096)
    for (const tcpBacklog of [0, 1.5, -1]) assert.throws(() => resolve({ tcpBacklog }), { code: 'LAB_FAILED' })
  })

  it('take a master port when asked (a fixed address for tools such as the ioredis suite), and refuse one that is no port', () => {
    assert.equal(resolve({}).masterPort, undefined)
    assert.equal(resolve({ masterPort: 6379 }).masterPort, 6379)
    for (const masterPort of [0, 65536, 1.5]) assert.throws(() => resolve({ masterPort }), { code: 'LAB_FAILED' })
  })

  it('with distinctAddresses, a node listens on, is announced by and replicates from its own address', () => {
    const node = { port: 6380, dir: '/tmp/lab', name: 'replica-2', replTimeoutSec: 5, replicaOf: 6379 }
    const text = dataNodeConfig({ ...node, host: dataNodeHost(2), masterHost: dataNodeHost(0) })
    assert.match(text, /^bind 127\.0\.0\.13$/m)
    assert.match(text, /^replica-announce-ip 127\.0\.0\.13$/m)
    assert.match(text, /^replicaof 127\.0\.0\.11 6379$/m)
    assert.match(
      sentinelConfig({ ...sentinel, masterHost: '127.0.0.11' }),
      /^sentinel monitor mymaster 127\.0\.0\.11 /m,
    )
    assert.match(dataNodeConfig(node), /^bind 127\.0\.0\.1$/m)
    assert.doesNotMatch(dataNodeConfig(node), /replica-announce-ip/)
    for (const other of [{ hostnames: true }, { tls: true }, { replicas: 201 }]) {
      assert.throws(() => resolve({ distinctAddresses: true, ...other }), { code: 'LAB_FAILED' })
    }
  })

  it('quote passwords so that no config line can be injected', () => {
    const text = sentinelConfig({ ...sentinel, password: 'a"b\\c\nsentinel x' })
    assert.ok(text.split('\n').includes('sentinel auth-pass mymaster "a\\"b\\\\c\\nsentinel x"'), text)
    assert.doesNotMatch(text, /^sentinel x/m)
  })
})
