import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseAllowedNodes } from '../../src/routing/allowed-nodes.js'

describe('allowedNodes', () => {
  it('matches CIDR blocks, addresses and host names, and nothing else', () => {
    const allowed = parseAllowedNodes([
      '10.0.0.0/8',
      '192.168.1.7',
      'fd00::/8',
      '*.redis.svc.cluster.local',
      'cache-0.example',
    ])
    for (const host of [
      '10.1.2.3',
      '192.168.1.7',
      'fd12::1',
      '[fd12::1]',
      'redis-0.redis.svc.cluster.local',
      'CACHE-0.example',
    ]) {
      assert.ok(allowed(host), host)
    }
    for (const host of [
      '11.0.0.1',
      '192.168.1.8',
      '::1',
      'redis.svc.cluster.local',
      'evil.example',
      'cache-0.example.evil',
      '',
    ]) {
      assert.ok(!allowed(host), host)
    }
  })

  it('rejects malformed entries at construction, naming them', () => {
    for (const entries of [
      [],
      'x',
      [42],
      ['10.0.0.0/33'],
      ['10.0.0.0/8/1'],
      ['fd00::/129'],
      ['*'],
      ['a..b'],
      ['10.0.0.0/x'],
    ]) {
      assert.throws(() => parseAllowedNodes(entries), { code: 'INVALID_OPTION', option: /^allowedNodes/ })
    }
  })
})
