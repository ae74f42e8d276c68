import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Redis } from 'ioredis'
import type { TwiceRedis } from '../../src/index.js'
import { labPerFile } from '../helpers/lab.js'

// The client cache's defects found by the fifth red team (issue 29): each test failed before its fix.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Keep the event loop busy: sockets become readable meanwhile and are read in the next turn. */
function busy(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) {}
}

/** Wait until `probe` is true (bounded). */
async function until(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await probe()) return
    await sleep(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The cache's hits so far. */
async function hits(tr: TwiceRedis): Promise<number> {
  return (await tr.topology()).cache?.hits ?? 0
}

/** The cache is tracking: a read of `key` is a hit. */
async function waitForHit(tr: TwiceRedis, key: string): Promise<void> {
  await until(`a hit of ${key}`, async () => {
    const before = await hits(tr)
    await tr.slave.get(key)
    return (await hits(tr)) > before
  })
}

describe('clientCache: what the fifth red team found', () => {
  const file = labPerFile({ replicas: 1, sentinels: 1 })

  it('a callback read, a hit when called and a failed miss when answered: the callback gets the error, no unhandled rejection', async () => {
    const tr = file.open({ clientCache: true })
    const writer = new Redis(file.lab.master.port)
    const unhandled: unknown[] = []
    const listener = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', listener)
    try {
      let raced = false
      // The race needs the invalidation read between the call and its answer: tried until it happens.
      for (let attempt = 0; attempt < 20 && !raced; attempt++) {
        await writer.del('cb')
        await writer.set('cb', 'string')
        await writer.wait(1, 5000)
        await waitForHit(tr, 'cb')
        const answer = await new Promise<string>((resolve) => {
          setImmediate(() => {
            void writer.multi().del('cb').hset('cb', 'f', 'v').exec()
            tr.slave.get('cb', (error, value) => resolve(error ? `error ${error.message}` : `value ${value}`))
            busy(20) // the invalidation arrives before the hit is answered
          })
        })
        raced = answer.startsWith('error WRONGTYPE')
        if (!raced) assert.equal(answer, 'value string')
      }
      assert.ok(raced, 'the invalidation never came between the call and its answer')
      await sleep(50) // an unhandled rejection is reported after the microtasks of its turn
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', listener)
      writer.disconnect()
    }
  })

  it('a key that is not well-formed UTF-16 (a lone surrogate) is not cached: Redis invalidates it under another name', async () => {
    const tr = file.open({ clientCache: true })
    const writer = new Redis(file.lab.master.port)
    const odd = 'odd\uD800'
    try {
      await writer.set(odd, 'old')
      await writer.wait(1, 5000)
      await waitForHit(tr, 'plain')
      const before = await hits(tr)
      assert.equal(await tr.slave.get(odd), 'old')
      assert.equal(await tr.slave.get(odd), 'old')
      assert.equal(await hits(tr), before)
      await writer.set(odd, 'new')
      await writer.wait(1, 5000)
      await until('the new value', async () => (await tr.slave.get(odd)) === 'new')
    } finally {
      writer.disconnect()
    }
  })

  it('monotonic: a hit is never older than a read of the same key the process got before (pipeline, MGET, getBuffer)', async () => {
    const tr = file.open({ clientCache: true, consistency: 'session' })
    const writer = new Redis(file.lab.master.port)
    let stop = false
    let n = 0
    let writes: Promise<void> | undefined
    const backwards: string[] = []
    try {
      await waitForHit(tr, 'ctr')
      writes = (async () => {
        while (!stop) await writer.set('ctr', ++n)
      })()
      const others: [string, () => Promise<unknown>][] = [
        ['pipeline', async () => ((await tr.slave.pipeline().get('ctr').exec()) as [null, string][])[0]?.[1]],
        ['mget', async () => (await tr.slave.mget('ctr', 'other'))[0]],
        ['getBuffer', () => tr.slave.getBuffer('ctr')],
      ]
      for (const [kind, read] of others) {
        let last = 0
        let lastKind = ''
        for (let i = 1; i <= 12_000; i++) {
          const now = i % 3 === 0 ? kind : 'get'
          const v = Number(String(now === 'get' ? await tr.slave.get('ctr') : await read()))
          if (v < last) backwards.push(`${lastKind} ${last} then ${now} ${v}`)
          else [last, lastKind] = [v, now]
        }
      }
      assert.deepEqual(backwards.slice(0, 10), [])
      assert.ok(((await tr.topology()).cache?.hits ?? 0) > 1000, JSON.stringify((await tr.topology()).cache))
    } finally {
      stop = true
      await writes
      writer.disconnect()
    }
  })

  for (const which of ['invalidation', 'tracked'] as const) {
    it(`a killed ${which} connection serves no hit, though ioredis has not seen its close yet`, async () => {
      const tr = file.open({ clientCache: true })
      const writer = new Redis(file.lab.master.port)
      const admin = new Redis(file.lab.replicas[0]?.port ?? 0)
      try {
        for (let run = 0; run < 3; run++) {
          await writer.set('killed', `v${run}`)
          await writer.wait(1, 5000)
          await waitForHit(tr, 'killed')
          // The pair of this tr.slave: its connection, and the one its CLIENT LIST line redirects to.
          const tracked = String(await tr.slave.client('ID'))
          const list = String(await admin.client('LIST')).split('\n')
          const line = list.find((l) => l.startsWith(`id=${tracked} `)) ?? ''
          const id = which === 'tracked' ? tracked : /redir=(\d+)/.exec(line)?.[1]
          assert.ok(id && id !== '-1', `no ${which} connection in ${line}`)
          // While this process is busy: the kill, then a write every replica acknowledged; read on the acknowledgement.
          const killed = admin.client('KILL', 'ID', id)
          busy(20)
          const acked = writer
            .pipeline()
            .set('killed', `v${run + 1}`)
            .wait(1, 5000)
            .exec()
          busy(20)
          const read = acked.then(() => tr.slave.get('killed'))
          assert.equal(await read, `v${run + 1}`)
          await killed
        }
      } finally {
        writer.disconnect()
        admin.disconnect()
      }
    })
  }

  it('a replica that stops answering (paused) serves no hit once the pair was silent for half the silence bound', async () => {
    // No health check: nothing else would ever stop the hits. connectTimeoutMs 400: hits need life within 200 ms.
    const tr = file.open({ clientCache: true, healthCheckIntervalMs: 0, connectTimeoutMs: 400 })
    await tr.master.set('frozen', 'v')
    await tr.master.wait(1, 5000)
    await waitForHit(tr, 'frozen')
    const replica = file.lab.node(tr.slave.node?.address ?? '')
    assert.ok(replica)
    file.lab.pause(replica)
    try {
      await sleep(300)
      const before = await hits(tr)
      const read = tr.slave.get('frozen')
      await new Promise((resolve) => setImmediate(resolve)) // when a hit would have been answered
      assert.equal(await hits(tr), before)
      file.lab.resume(replica)
      assert.equal(await read, 'v')
    } finally {
      file.lab.resume(replica)
    }
  })

  it('tracking starts again after its redirect connection was lost, without a cacheable read', async () => {
    const tr = file.open({ clientCache: true })
    await waitForHit(tr, 'again')
    const tracked = String(await tr.slave.client('ID'))
    const admin = new Redis(file.lab.replicas[0]?.port ?? 0)
    try {
      const list = String(await admin.client('LIST')).split('\n')
      const redirect = /redir=(\d+)/.exec(list.find((l) => l.startsWith(`id=${tracked} `)) ?? '')?.[1]
      assert.ok(redirect)
      await admin.client('KILL', 'ID', redirect)
      await until('tracking lost', async () => (await tr.topology()).cache?.tracking === false)
      // What the README's loop does: no read the cache answers, only PINGs.
      await until('tracking again', async () => {
        await tr.slave.ping()
        return (await tr.topology()).cache?.tracking === true
      })
    } finally {
      admin.disconnect()
    }
  })

  it('a backed-up invalidation stream serves no hit: a write acknowledged while thousands of invalidations wait unread', async () => {
    const tr = file.open({ clientCache: { maxEntries: 100_000, maxBytes: 256 * 1024 * 1024 } })
    const writer = new Redis(file.lab.master.port)
    const n = 30_000
    const key = (i: number) => `backlog:${i}:${'x'.repeat(150)}`
    try {
      for (let i = 0; i < n; i += 5000) {
        const batch = writer.pipeline()
        for (let j = i; j < i + 5000; j++) batch.set(key(j), 'old')
        await batch.exec()
      }
      await writer.set('backlog:last', 'old')
      await writer.wait(1, 5000)
      await waitForHit(tr, 'backlog:last')
      for (let i = 0; i < n; i += 1000)
        await Promise.all(Array.from({ length: 1000 }, (_, j) => tr.slave.get(key(i + j))))
      // One script rewrites them all (one command: written at once), then `last`, acknowledged by the replica.
      const script = `for i = 0, ${n - 1} do redis.call('SET', 'backlog:' .. i .. ':' .. ARGV[1], 'new') end`
      const acked = writer.pipeline().eval(script, 0, 'x'.repeat(150)).set('backlog:last', 'new').wait(1, 5000).exec()
      busy(1500) // megabytes of invalidations arrive meanwhile: more than one turn of the event loop reads
      const read = acked.then(() => tr.slave.get('backlog:last'))
      assert.equal(await read, 'new')
    } finally {
      writer.disconnect()
    }
  })
})
