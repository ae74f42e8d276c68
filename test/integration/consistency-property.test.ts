// Issue 20: a property test of `consistency: 'session'` against the lab (fast-check, fixed seed).
// Random sequences of writes and reads on both sides of one TwiceRedis (plain commands, pipelines,
// multi(), autopipelining, a duplicate, call() in any case, SELECT and SUBSCRIBE on the read
// side), over RESP2 and RESP3, with the replica in use paused for a random few ms (real lag).
// Properties: every read sees every write acknowledged before it was issued; every reply equals
// what the same command returns from the master without the gate; nothing hangs; no command
// reaches a connection it was not sent on (the write side stays in db 0, out of MULTI and
// subscriber mode, and a transaction's replies are its own).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import type { TwiceRedis } from '../../src/index.js'
import { resp3Installed } from '../../src/options/protocol.js'
import { labPerFile } from '../helpers/lab.js'
import { settles } from '../helpers/load.js'

/** `name` in a random mix of cases. */
const anyCase = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''))

const key = fc.constantFrom('p:a', 'p:b')
const value = fc.string({ minLength: 1, maxLength: 6 })

const step = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key, value }),
  fc.record({ op: fc.constant('pipeline-write' as const), key, value }),
  fc.record({ op: fc.constant('multi-write' as const), key, value }),
  fc.record({ op: fc.constant('call-write' as const), key, value, name: anyCase('set') }),
  fc.record({ op: fc.constant('duplicate-write' as const), key, value }),
  fc.record({ op: fc.constant('zadd' as const), score: fc.integer({ min: 0, max: 9 }), member: value }),
  fc.record({ op: fc.constant('hset' as const), field: fc.constantFrom('f', 'g'), value }),
  fc.record({ op: fc.constant('get' as const), key }),
  fc.record({ op: fc.constant('call-read' as const), key, name: anyCase('get') }),
  fc.record({ op: fc.constant('pipeline-read' as const) }),
  fc.record({ op: fc.constant('multi-read' as const), key }),
  fc.record({ op: fc.constant('tick-reads' as const) }),
  fc.record({ op: fc.constant('zrange' as const) }),
  fc.record({ op: fc.constant('hgetall' as const) }),
  fc.record({ op: fc.constant('write-read' as const), key, value }),
  fc.record({ op: fc.constant('select' as const), db: fc.integer({ min: 1, max: 3 }), key }),
  fc.record({ op: fc.constant('subscribe' as const) }),
  fc.record({ op: fc.constant('lag' as const), ms: fc.integer({ min: 0, max: 40 }) }),
)
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never

describe("consistency: 'session' property", () => {
  const fx = labPerFile()

  it('random interleavings: reads see acknowledged writes, replies as without the gate, no hang, no stray command', async () => {
    const lab = fx.lab
    interface Setup {
      tr: TwiceRedis
      writer: TwiceRedis['master']
      subscriber: TwiceRedis['slave']
      reference: Redis
      model: Map<string, string | null>
      /** This setup's own name for a key (the setups share the lab). */
      k: (key: string) => string
    }
    const setups: Setup[] = []
    /** Reads the gate sent to the master: the lag steps really held reads back. */
    let moved = 0
    // RESP3 where the installed ioredis speaks it (ioredis 5 refuses `protocol: 3`, typed).
    for (const protocol of resp3Installed ? ([2, 3] as const) : ([2] as const)) {
      for (const enableAutoPipelining of [false, true]) {
        const tr = fx.open({
          consistency: 'session',
          consistencyTimeoutMs: 20,
          healthCheckIntervalMs: 0,
          redisOptions: { protocol, enableAutoPipelining },
        })
        tr.on('read-from-master', () => moved++)
        const reference = new Redis({ host: lab.master.host, port: lab.master.port, protocol } as never)
        const prefix = setups.length
        const k = (key: string) => `${prefix}${key}`
        await tr.master.del(k('p:a'), k('p:b'), k('p:z'), k('p:h'))
        setups.push({
          k,
          tr,
          writer: tr.master.duplicate() as TwiceRedis['master'],
          subscriber: tr.slave.duplicate() as TwiceRedis['slave'],
          reference,
          model: new Map([
            ['p:a', null],
            ['p:b', null],
          ]),
        })
      }
    }
    const paused = new Set<ReturnType<typeof lab.node>>()
    /** Resumes still to come: cleared at the end, so none fires on a lab already stopped. */
    const resumes = new Set<NodeJS.Timeout>()
    const run = async (s: Setup, steps: Step[]) => {
      const { tr, reference, model, k } = s
      const same = async (what: string, gated: Promise<unknown>, direct: () => Promise<unknown>) => {
        const got = await settles(gated, what)
        assert.deepEqual(got, await direct(), what)
      }
      for (const st of steps) {
        switch (st.op) {
          case 'set':
            await settles(tr.master.set(k(st.key), st.value), st.op)
            model.set(st.key, st.value)
            break
          case 'pipeline-write':
            await settles(tr.master.pipeline().set(k(st.key), st.value).get(k(st.key)).exec(), st.op)
            model.set(st.key, st.value)
            break
          case 'multi-write':
            assert.deepEqual(await settles(tr.master.multi().set(k(st.key), st.value).exec(), st.op), [[null, 'OK']])
            model.set(st.key, st.value)
            break
          case 'call-write':
            await settles(tr.master.call(st.name, k(st.key), st.value), st.op)
            model.set(st.key, st.value)
            break
          case 'duplicate-write':
            await settles(s.writer.set(k(st.key), st.value), st.op)
            model.set(st.key, st.value)
            break
          case 'zadd':
            await settles(tr.master.zadd(k('p:z'), st.score, st.member), st.op)
            break
          case 'hset':
            await settles(tr.master.hset(k('p:h'), st.field, st.value), st.op)
            break
          case 'get':
            assert.equal(await settles(tr.slave.get(k(st.key)), st.op), model.get(st.key))
            break
          case 'call-read':
            assert.equal(await settles(tr.slave.call(st.name, k(st.key)), st.op), model.get(st.key))
            break
          case 'pipeline-read':
            assert.deepEqual(await settles(tr.slave.pipeline().get(k('p:a')).get(k('p:b')).exec(), st.op), [
              [null, model.get('p:a')],
              [null, model.get('p:b')],
            ])
            break
          case 'multi-read':
            assert.deepEqual(await settles(tr.slave.multi().get(k(st.key)).exec(), st.op), [[null, model.get(st.key)]])
            break
          case 'tick-reads':
            assert.deepEqual(
              await settles(
                Promise.all([tr.slave.get(k('p:a')), tr.slave.get(k('p:b')), tr.slave.get(k('p:a'))]),
                st.op,
              ),
              [model.get('p:a'), model.get('p:b'), model.get('p:a')],
            )
            break
          case 'zrange':
            await same(st.op, tr.slave.zrange(k('p:z'), '0', '-1', 'WITHSCORES'), () =>
              reference.zrange(k('p:z'), '0', '-1', 'WITHSCORES'),
            )
            break
          case 'hgetall':
            await same(st.op, tr.slave.hgetall(k('p:h')), () => reference.hgetall(k('p:h')))
            break
          case 'write-read': {
            const before = model.get(st.key)
            const [, read] = await settles(
              Promise.all([tr.master.set(k(st.key), st.value), tr.slave.get(k(st.key))]),
              st.op,
            )
            assert.ok(read === before || read === st.value, `${st.op}: ${read}`)
            model.set(st.key, st.value)
            break
          }
          case 'select':
            await settles(tr.slave.select(st.db), st.op)
            assert.equal(await settles(tr.slave.get(k(st.key)), st.op), null, 'nothing is written outside db 0')
            await settles(tr.slave.select(0), st.op)
            break
          case 'subscribe':
            await settles(s.subscriber.subscribe('p:news'), st.op)
            await settles(s.subscriber.unsubscribe('p:news'), st.op)
            break
          case 'lag': {
            const node = lab.node(tr.slave.node?.address ?? '')
            if (!node || node.address === lab.master.address) break
            lab.pause(node)
            paused.add(node)
            const resume = setTimeout(() => {
              resumes.delete(resume)
              lab.resume(node)
              paused.delete(node)
            }, st.ms)
            resumes.add(resume)
            break
          }
        }
      }
      // Nothing of the read side (SELECT, SUBSCRIBE, MULTI) reached the write side.
      assert.equal(tr.master.mode, 'normal')
      assert.equal(await settles(tr.master.set('p:probe', '1'), 'probe'), 'OK')
      assert.equal(await reference.get('p:probe'), '1')
    }
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: setups.length - 1 }),
          fc.array(step, { maxLength: 10 }),
          (i, steps) => run(setups[i]!, steps),
        ),
        { seed: 20, numRuns: 250, endOnFailure: true, includeErrorInReport: true },
      )
      assert.ok(moved > 0, 'no read was held back by lag')
    } finally {
      for (const resume of resumes) clearTimeout(resume)
      for (const node of paused) lab.resume(node!)
      for (const s of setups) {
        s.writer.disconnect()
        s.subscriber.disconnect()
        s.reference.disconnect()
      }
    }
  })
})
