import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { resp3Installed } from '../../src/options/protocol.js'
import { labPerFile } from '../helpers/lab.js'

/**
 * ioredis 6's `protocol` and `replyMapping` on both sides: every reply, also one the session gate
 * moves to the master or delivers from a copy, is what the same ioredis client answers ungated.
 */
describe('protocol and replyMapping, as ioredis answers them', () => {
  const file = labPerFile({ replicas: 1, sentinels: 1 })
  const plains: Redis[] = []
  after(() => {
    for (const p of plains) p.disconnect()
  })
  // ioredis 5 speaks RESP2 only (protocol 3 is refused there, typed: test/unit/options.test.ts).
  const mappings = resp3Installed
    ? ([{ protocol: 2 }, { protocol: 3 }, { protocol: 3, replyMapping: 'resp3' }] as const)
    : ([{ protocol: 2 }] as const)

  /** The replies of a few commands whose shapes differ by mapping: a double, a map, a map in a pipeline. */
  const replies = async (client: Redis) => [
    await client.zscore('z', 'a'),
    await client.config('GET', 'maxmemory'),
    await client.hgetall('h'),
    await client.pipeline().zscore('z', 'a').call('CONFIG', 'GET', 'maxmemory').exec(),
  ]

  for (const mapping of mappings) {
    for (const consistency of ['eventual', 'session'] as const) {
      it(`${JSON.stringify(mapping)}, consistency ${consistency}: both sides and their duplicates`, async () => {
        const tr = file.open({ ...mapping, consistency })
        const plain = new Redis({ port: file.lab.master.port, ...mapping })
        plains.push(plain)
        await tr.master.zadd('z', 1.5, 'a')
        await tr.master.hset('h', 'f', 'v')
        // Eventual reads see the replica as it is: let it apply the writes first.
        await tr.master.wait(1, 5000)
        const expected = await replies(plain)
        assert.deepEqual(await replies(tr.master), expected)
        assert.deepEqual(await replies(tr.slave), expected)
        const duplicates = [tr.master.duplicate(), tr.slave.duplicate()]
        try {
          for (const d of duplicates) assert.deepEqual(await replies(d), expected)
        } finally {
          for (const d of duplicates) d.disconnect()
        }
      })
    }

    it(`${JSON.stringify(mapping)}: a read the session moves to the master answers as ungated`, async () => {
      const tr = file.open({ ...mapping, consistency: 'session', consistencyTimeoutMs: 50, healthCheckIntervalMs: 0 })
      const plain = new Redis({ port: file.lab.master.port, ...mapping })
      plains.push(plain)
      await tr.slave.get('warm')
      const replica = file.lab.replicas[0]!
      const moved: unknown[] = []
      tr.on('read-from-master', (e) => moved.push(e))
      file.lab.pause(replica)
      try {
        await tr.master.zadd('z', 2.5, 'a')
        assert.deepEqual(await tr.slave.zscore('z', 'a'), await plain.zscore('z', 'a'))
        assert.equal(moved.length, 1)
      } finally {
        file.lab.resume(replica)
      }
    })
  }
})
