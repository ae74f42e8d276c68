import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { TwiceRedis, TwiceRedisEvents } from '../../src/index.js'
import type { Lab, LabNode } from '../../src/lab/index.js'
import { parseInfo } from '../../src/protocol/node-info.js'
import { labPerFile, withLab } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

/** How many times `command` ran on `node` (INFO commandstats). */
async function calls(lab: Lab, node: LabNode, command: string): Promise<number> {
  const stats = parseInfo(String(await lab.command(node, 'INFO', 'commandstats')))
  return Number(/calls=(\d+)/.exec(stats[`cmdstat_${command}`] ?? '')?.[1] ?? 0)
}

/** Sequential write-then-read pairs on one key: how many reads missed the write just made. */
async function stalePairs(tr: TwiceRedis, key: string, n: number): Promise<number> {
  let stale = 0
  for (let i = 0; i < n; i++) {
    await tr.master.set(key, String(i))
    if ((await tr.slave.get(key)) !== String(i)) stale++
  }
  return stale
}

describe("consistency: 'session'", () => {
  const fx = labPerFile()

  it('reads see the writes before them: sequential and 50 concurrent pairs, 0 stale, reads on replicas', async () => {
    const tr = fx.open({ consistency: 'session' })
    assert.equal(await stalePairs(tr, 'ryw:seq', 300), 0)
    assert.equal(tr.slave.node?.role, 'replica')
    const stale = await Promise.all(
      Array.from({ length: 50 }, async (_, c) => {
        let missed = 0
        for (let i = 0; i < 20; i++) {
          await tr.master.set(`ryw:c${c}`, String(i))
          if ((await tr.slave.get(`ryw:c${c}`)) !== String(i)) missed++
        }
        return missed
      }),
    )
    assert.equal(
      stale.reduce((a, b) => a + b),
      0,
    )
  })

  it("'eventual' sends no extra command and reads from replicas", async () => {
    const tr = fx.open()
    await tr.slave.get('warm-up')
    const nodes = [fx.lab.master, ...fx.lab.replicas]
    const before = await Promise.all(nodes.map((n) => calls(fx.lab, n, 'role')))
    const gets = await Promise.all(fx.lab.replicas.map((n) => calls(fx.lab, n, 'get')))
    await stalePairs(tr, 'ev', 100)
    assert.deepEqual(await Promise.all(nodes.map((n) => calls(fx.lab, n, 'role'))), before)
    const after = await Promise.all(fx.lab.replicas.map((n) => calls(fx.lab, n, 'get')))
    assert.equal(after.reduce((a, b) => a + b) - gets.reduce((a, b) => a + b), 100, 'every read on a replica')
  })

  it('pipelines, MULTI, Lua and duplicated clients of the master side count as writes', async () => {
    const tr = fx.open({ consistency: 'session' })
    const writer = tr.master.duplicate()
    try {
      const writes: [string, (v: string) => Promise<unknown>][] = [
        ['pipeline', (v) => tr.master.pipeline().set('ryw:p', v).exec()],
        ['multi', (v) => tr.master.multi().set('ryw:p', v).exec()],
        ['lua', (v) => tr.master.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, 'ryw:p', v)],
        ['duplicate', (v) => writer.set('ryw:p', v)],
      ]
      for (const [kind, write] of writes) {
        const roles = await calls(fx.lab, fx.lab.master, 'role')
        let stale = 0
        for (let i = 0; i < 50; i++) {
          await write(`${kind}-${i}`)
          if ((await tr.slave.get('ryw:p')) !== `${kind}-${i}`) stale++
        }
        assert.equal(stale, 0, kind)
        assert.ok((await calls(fx.lab, fx.lab.master, 'role')) - roles >= 50, `${kind} did not count as a write`)
      }
    } finally {
      writer.disconnect()
    }
  })

  it('a token carries a write to another process', async () => {
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/token.ts', ...args], {
        env: {
          ...process.env,
          LAB_MASTER_NAME: fx.lab.masterName,
          LAB_SENTINELS: fx.lab.sentinels.map((s) => s.address).join(','),
        },
        timeout: 30_000,
      })
    const value = `v-${Date.now()}`
    const token = (await run('write', 'ryw:token', value)).stdout.trim()
    assert.match(token, /^ryw2:[0-9a-f]{40}:\d+$/)
    assert.deepEqual(JSON.parse((await run('read', 'ryw:token', token)).stdout), { value, role: 'replica' })
  })

  it('a token from ahead of every replica sends the read to the master, within the bound', async () => {
    const writer = fx.open()
    const tr = fx.open({ healthCheckIntervalMs: 0 })
    const events: TwiceRedisEvents['read-from-master'][0][] = []
    tr.on('read-from-master', (e) => events.push(e))
    await tr.slave.get('warm-up')
    for (const r of fx.lab.replicas) await fx.lab.breakReplicaLink(r, { wait: false })
    try {
      await writer.master.set('ryw:ahead', 'yes')
      tr.readAfter(await writer.writeToken())
      assert.equal(await tr.slave.get('ryw:ahead'), 'yes')
      assert.equal(events.length, 1)
      assert.match(events[0]!.reason, /bytes behind|not connected to its master/)
    } finally {
      for (const r of fx.lab.replicas) await fx.lab.restoreReplicaLink(r)
    }
    assert.throws(() => tr.readAfter('nope'), { code: 'INVALID_OPTION' })
  })
})

describe("consistency: 'session' under faults", () => {
  it('the replica in use is paused: every read after a write is fresh, none hangs, none rejects', () =>
    withLab(async (lab, open) => {
      const tr = open({ consistency: 'session', consistencyTimeoutMs: 100 })
      const toMaster: unknown[] = []
      tr.on('read-from-master', (e) => toMaster.push(e))
      await tr.master.set('ryw:pause', 'start')
      assert.equal(await tr.slave.get('ryw:pause'), 'start')
      const replica = lab.node(tr.slave.node!.address)!
      lab.pause(replica)
      try {
        for (let i = 0; i < 30; i++) {
          await tr.master.set('ryw:pause', String(i))
          assert.equal(await tr.slave.get('ryw:pause'), String(i))
        }
        assert.ok(toMaster.length > 0, 'no read went to the master')
      } finally {
        lab.resume(replica)
      }
    }))

  it('a failover in the middle of a write/read stream: no read goes back in time', () =>
    withLab(async (lab, open) => {
      const options = { consistency: 'session', redisOptions: { maxRetriesPerRequest: null } } as const
      const tr = open(options)
      await tr.master.set('ryw:n', '0')
      let written = 0
      let lastRead = 0
      let running = true
      const violations: string[] = []
      const stream = (async () => {
        while (running) {
          written = await tr.master.incr('ryw:n')
          const acknowledged = written
          const read = Number(await tr.slave.get('ryw:n'))
          if (read < acknowledged) violations.push(`read ${read} after writing ${acknowledged}`)
          if (read < lastRead) violations.push(`read ${read} after reading ${lastRead}`)
          lastRead = read
        }
      })()
      await until(() => written > 200, 'writes before the failover')
      const old = lab.master
      await lab.kill(old)
      await lab.waitForNewMaster()
      const after = written
      await until(() => written > after + 200, 'writes after the failover', 30_000)
      running = false
      await stream
      assert.deepEqual(violations, [])
    }))
})
