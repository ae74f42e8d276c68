// Write coalescing (issue 30) against real servers: replies and their order as an uncoalesced
// client gets them, a socket dropped with bytes buffered, TLS, and a 100 MB pipeline.
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import type { Redis } from 'ioredis'
import { TwiceRedis } from '../../src/index.js'
import { dropStream, streamOf } from '../../src/ioredis-internals.js'
import { startLab } from '../../src/lab/index.js'
import { coalescing } from '../../src/protocol/coalesce.js'
import { labPerFile } from '../helpers/lab.js'

const setup = labPerFile()

/** Count the socket's batched writes (`_writev`): proof that commands did leave together. */
function countWritev(client: Redis): { readonly count: number } {
  const socket = streamOf(client) as Socket & { _writev: (...args: unknown[]) => unknown }
  const counter = { count: 0 }
  const original = socket._writev
  socket._writev = function (this: Socket, ...args: unknown[]) {
    counter.count++
    return original.apply(this, args)
  }
  return counter
}

type Op =
  | { kind: 'set' | 'append' | 'rpush'; slot: number; value: string }
  | { kind: 'get' | 'incr' | 'lrange'; slot: number }
  | { kind: 'pipeline' | 'multi'; ops: Op[] }
/** One step of a task: its ops sent in the same tick, awaited together. */
type Step = Op[]

const leaf: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('set' as const, 'append' as const, 'rpush' as const),
    slot: fc.nat(2),
    value: fc.string({ maxLength: 6 }),
  }),
  fc.record({ kind: fc.constantFrom('get' as const, 'incr' as const, 'lrange' as const), slot: fc.nat(2) }),
)
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: leaf },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('pipeline' as const), ops: fc.array(leaf, { maxLength: 5 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('multi' as const), ops: fc.array(leaf, { maxLength: 4 }) }) },
)
const program = fc.array(fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }), {
  minLength: 2,
  maxLength: 8,
})

/** Keys of a task: its own, so each task's replies do not depend on how tasks interleave. */
const keyOf = (prefix: string, task: number, o: { kind: string; slot: number }) =>
  `${prefix}:${task}:${o.kind === 'rpush' || o.kind === 'lrange' ? 'list' : 'str'}:${o.slot}`

function apply(chain: Redis | ReturnType<Redis['pipeline']>, prefix: string, task: number, o: Op): unknown {
  const c = chain as Redis
  if (o.kind === 'pipeline' || o.kind === 'multi') throw new Error('nested')
  const key = keyOf(prefix, task, o as { kind: string; slot: number })
  if (o.kind === 'set') return c.set(key, o.value)
  if (o.kind === 'append') return c.append(key, o.value)
  if (o.kind === 'rpush') return c.rpush(key, o.value)
  if (o.kind === 'get') return c.get(key)
  if (o.kind === 'incr') return c.incr(key)
  return c.lrange(key, 0, -1)
}

/** Settle one op: its reply, or the error's message (INCR on a non-number string, in a MULTI too). */
async function run(client: Redis, prefix: string, task: number, o: Op): Promise<unknown> {
  // Errors by message: a pipeline's carry the command's arguments (its keys, prefixed per client).
  const outcome = (p: Promise<unknown>) =>
    p.then(
      (v) => (Array.isArray(v) ? v.map((r) => (Array.isArray(r) ? [r[0]?.message ?? null, r[1]] : r)) : v),
      (e: Error) => `error: ${e.message}`,
    )
  if (o.kind !== 'pipeline' && o.kind !== 'multi') return outcome(apply(client, prefix, task, o) as Promise<unknown>)
  const chain = o.kind === 'multi' ? client.multi() : client.pipeline()
  for (const inner of o.ops) apply(chain, prefix, task, inner)
  return outcome(chain.exec())
}

async function runProgram(client: Redis, prefix: string, tasks: Step[][]): Promise<unknown[][]> {
  return Promise.all(
    tasks.map(async (steps, task) => {
      const replies: unknown[] = []
      for (const step of steps) replies.push(await Promise.all(step.map((o) => run(client, prefix, task, o))))
      return replies
    }),
  )
}

describe('write coalescing', () => {
  it('is on by default on both sides and off with enableWriteCoalescing: false', async () => {
    const on = setup.open()
    const off = setup.open({ enableWriteCoalescing: false })
    await Promise.all([on.master.ping(), on.slave.ping(), off.master.ping(), off.slave.ping()])
    assert.ok(coalescing(streamOf(on.master)) && coalescing(streamOf(on.slave)))
    assert.ok(!coalescing(streamOf(off.master)) && !coalescing(streamOf(off.slave)))
    const copy = on.master.duplicate()
    try {
      await copy.ping()
      assert.ok(coalescing(streamOf(copy)), 'a duplicate() coalesces too')
    } finally {
      copy.disconnect()
    }
  })

  it('replies (and their order) match an uncoalesced client under random interleavings of commands, pipelines and MULTI', async () => {
    const on = setup.open()
    const off = setup.open({ enableWriteCoalescing: false })
    await Promise.all([on.master.ping(), off.master.ping()])
    const batched = countWritev(on.master)
    let run = 0
    await fc.assert(
      fc.asyncProperty(program, async (tasks) => {
        run++
        const [coalesced, plain] = await Promise.all([
          runProgram(on.master, `co:${run}`, tasks),
          runProgram(off.master, `un:${run}`, tasks),
        ])
        assert.deepEqual(coalesced, plain)
      }),
      { numRuns: 40 },
    )
    assert.ok(batched.count > 0, 'no write was coalesced')
  })

  it('a socket dropped with bytes buffered: commands resent, or rejected, exactly as without coalescing', async () => {
    // Resent (ioredis' default); not resent (ioredis 6 then drops them unsettled: only
    // `commandTimeout` ends them, with or without coalescing); the client closed (rejected).
    const cases: { close?: boolean; autoResendUnfulfilledCommands?: boolean; commandTimeout?: number }[] = [
      {},
      { autoResendUnfulfilledCommands: false, commandTimeout: 300 },
      { close: true },
    ]
    for (const [n, { close, ...options }] of cases.map((c, i) => [i, c] as const)) {
      const outcomes: unknown[] = []
      for (const enableWriteCoalescing of [true, false]) {
        const tr = setup.open({ ...options, enableWriteCoalescing })
        tr.on('error', () => {})
        await tr.master.ping()
        const socket = streamOf(tr.master)!
        const prefix = `drop:${enableWriteCoalescing}:${n}`
        const sent = Array.from({ length: 20 }, (_, i) => tr.master.set(`${prefix}:${i}`, String(i)))
        // The tick's writes after the first are still in the socket's buffer when it dies.
        if (enableWriteCoalescing) assert.ok(socket.writableLength > 0, 'nothing buffered')
        if (close) tr.master.disconnect()
        else dropStream(tr.master)
        const settled = await Promise.allSettled(sent)
        const stored = await tr.master.mget(...sent.map((_, i) => `${prefix}:${i}`))
        outcomes.push({
          replies: settled.map((s) => (s.status === 'fulfilled' ? s.value : `error: ${s.reason.message}`)),
          stored: stored.map((v, i) => v === null || v === String(i)),
        })
      }
      assert.deepEqual(outcomes[0], outcomes[1], `case ${n}`)
    }
  })

  it('a 100 MB pipeline streams through without holding more memory than an uncoalesced client', async () => {
    const value = Buffer.alloc(1024 * 1024, 'x')
    const peaks: number[] = []
    for (const enableWriteCoalescing of [false, true]) {
      const tr = setup.open({ enableWriteCoalescing })
      await tr.master.ping()
      // A busy socket first: the pipeline's write is then corked from the start.
      await Promise.all([tr.master.ping(), tr.master.ping(), tr.master.ping()])
      global.gc?.()
      const base = process.memoryUsage().arrayBuffers
      let peak = 0
      const sample = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)
      }, 5)
      try {
        const pipeline = tr.master.pipeline()
        for (let i = 0; i < 100; i++) pipeline.set(`big:${enableWriteCoalescing}`, value)
        const replies = await Promise.all([pipeline.exec(), tr.master.ping()])
        assert.equal(replies[0]!.length, 100)
        assert.ok(replies[0]!.every(([error, reply]) => error === null && reply === 'OK'))
        assert.equal(await tr.master.strlen(`big:${enableWriteCoalescing}`), value.length)
        assert.equal(streamOf(tr.master)!.writableLength, 0)
      } finally {
        clearInterval(sample)
        await tr.master.del(`big:${enableWriteCoalescing}`)
      }
      peaks.push(peak)
    }
    const [plain, coalesced] = peaks as [number, number]
    const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`
    assert.ok(coalesced <= plain * 1.5 + 32 * 2 ** 20, `coalesced ${mb(coalesced)}, uncoalesced ${mb(plain)}`)
  })
})

describe('write coalescing over TLS', () => {
  it('coalesces on TLS sockets, replies in order on both sides', async () => {
    const lab = await startLab({ tls: true, replicas: 1, sentinels: 1, quorum: 1 })
    const ca = lab.tls!.ca
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, { sentinelTls: { ca }, tls: { ca } })
    try {
      await Promise.all([tr.master.ping(), tr.slave.ping()])
      assert.ok(coalescing(streamOf(tr.master)) && coalescing(streamOf(tr.slave)))
      const batched = countWritev(tr.master)
      const writes = await Promise.all(Array.from({ length: 200 }, (_, i) => tr.master.rpush('tls:list', String(i))))
      assert.deepEqual(
        writes,
        Array.from({ length: 200 }, (_, i) => i + 1),
      )
      assert.ok(batched.count > 0, 'no write was coalesced')
      await tr.master.wait(1, 2000)
      const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => tr.slave.lindex('tls:list', i)))
      assert.deepEqual(
        reads,
        Array.from({ length: 50 }, (_, i) => String(i)),
      )
    } finally {
      await tr.quit()
      await lab.stop()
    }
  })
})
