import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { withLab } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

/**
 * Where the write side's features meet (issue 27): the fence, transactions, quit(), disconnect().
 * Each test failed before its fix.
 */
describe('seams of the write side', () => {
  it('a fence released in batches: no member writes to the old master before its own release (0 lost)', async () => {
    await withLab(async (lab, open) => {
      // More write clients than the watch releases per turn (10): instances and their duplicate()s.
      const writers: Redis[] = []
      for (let i = 0; i < 30; i++) {
        const tr = open()
        const copy = tr.master.duplicate()
        writers.push(tr.master, copy)
      }
      try {
        await Promise.all(writers.map((w, i) => w.set(`seams:count:${i}`, '0')))
        const acked = writers.map(() => 0)
        let failed = 0
        const timer = setInterval(() => {
          writers.forEach((w, i) => {
            // Un-awaited, as an application firing writes: each acknowledged INCR must survive.
            w.incr(`seams:count:${i}`).then(
              () => acked[i]!++,
              () => failed++,
            )
          })
        }, 10)
        const old = lab.master
        let elected = old
        try {
          await new Promise((r) => setTimeout(r, 300))
          await lab.failover()
          elected = await lab.waitForNewMaster()
          await until(
            () =>
              writers.every((w) => (w as unknown as { node?: { address: string } }).node?.address === elected.address),
            'every write client on the new master',
          )
          await new Promise((r) => setTimeout(r, 300))
        } finally {
          clearInterval(timer)
        }
        // Every INCR sent is answered (or failed) before counting.
        await Promise.all(writers.map((w) => w.ping()))
        assert.notEqual(elected.address, old.address)
        const check = open()
        let lost = 0
        for (let i = 0; i < writers.length; i++) {
          const value = Number(await check.master.get(`seams:count:${i}`))
          if (value < acked[i]!) lost += acked[i]! - value
        }
        assert.equal(lost, 0, `acknowledged increments lost (${failed} failed)`)
      } finally {
        await Promise.all(
          writers
            .slice(1)
            .filter((_, i) => i % 2 === 0)
            .map((w) => w.quit()),
        )
      }
    })
  })
})
