// Property-based tests of every parser of what sentinels and nodes send (and of what users pass):
// any input, of any type, truncated, huge, with missing or duplicated fields, gives a valid result
// or a typed error, never another exception.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { parseToken } from '../../src/consistency/position.js'
import { TwiceRedisError } from '../../src/errors.js'
import { normalize, parseSentinel } from '../../src/options/normalize.js'
import { parseInfo, roleOffset, roleProblem } from '../../src/protocol/node-info.js'
import { pairs } from '../../src/protocol/reply.js'
import { parseSentinelEvent } from '../../src/protocol/sentinel-events.js'
import {
  masterOffsetFromCache,
  parseMasterAddress,
  parseReplicas,
  parseSentinels,
} from '../../src/protocol/sentinel-replies.js'
import { parseAllowedNodes } from '../../src/routing/allowed-nodes.js'
import { replicaProblem } from '../../src/routing/replica-health.js'
import { selectReplica } from '../../src/routing/replica-selection.js'

// A fixed seed keeps the suite deterministic; `FUZZ_SEED=random` (or a number) explores further.
const seed = process.env.FUZZ_SEED === 'random' ? Date.now() : Number(process.env.FUZZ_SEED ?? 20261125)
const runs = { numRuns: 2000, seed }

/** Any value at all, strange objects included (null prototype, boxed values, maps, typed arrays, sparse arrays). */
const wild = fc.anything({
  withNullPrototype: true,
  withBigInt: true,
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withObjectString: true,
  withTypedArray: true,
  withSparseArray: true,
  withDate: true,
})

/** Field names and values a sentinel really sends, mixed with anything. */
const field = fc.oneof(
  fc.constantFrom(
    'ip',
    'port',
    'flags',
    'master-link-status',
    'master-link-down-time',
    'slave-repl-offset',
    'slave-priority',
  ),
  fc.string(),
)
const value = fc.oneof(
  fc.constantFrom('127.0.0.1', '6379', '0', '-1', 'slave', 's_down,slave', 'ok', 'err', 'NaN', '1e309', '', '::1'),
  fc.string(),
  fc.integer(),
  wild,
)
/** A `SENTINEL REPLICAS`-like reply: entries of [k, v, ...], possibly truncated, nested or duplicated. */
const replicasReply = fc.oneof(fc.array(fc.array(fc.oneof(field, value), { maxLength: 30 }), { maxLength: 20 }), wild)
/** Anything, including the reply shapes of RESP: strings, numbers, null, nested arrays, buffers, errors. */
const reply = fc.oneof(
  wild,
  fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 10 }),
  fc.uint8Array().map((bytes) => Buffer.from(bytes)),
  fc.string().map((message) => new Error(message)),
)

/** Runs `parse`; a thrown error must be a TwiceRedisError. */
function typed<T>(parse: () => T): T | undefined {
  try {
    return parse()
  } catch (error) {
    assert.ok(error instanceof TwiceRedisError, `not a typed error: ${String(error)}`)
    return undefined
  }
}

const validAddress = (a: { host: string; port: number }) =>
  typeof a.host === 'string' && a.host.length > 0 && Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535

describe('fuzzed replies', () => {
  it('SENTINEL REPLICAS: only replicas with a usable address and finite numbers', () => {
    fc.assert(
      fc.property(replicasReply, (r) => {
        for (const replica of parseReplicas(r)) {
          assert.ok(validAddress(replica))
          for (const n of [replica.offset, replica.linkDownMs, replica.priority])
            assert.ok(Number.isFinite(n) && n >= 0)
          assert.ok(Array.isArray(replica.flags))
          const problem = replicaProblem(replica, { maxLagBytes: 10, maxLinkDownMs: 5 }, 100)
          assert.ok(problem === undefined || typeof problem === 'string')
        }
        for (const sentinel of parseSentinels(r)) assert.ok(validAddress(sentinel))
        const chosen = selectReplica(parseReplicas(r), { selection: 'round-robin', turn: 3 })
        assert.ok(chosen === undefined || validAddress(chosen))
      }),
      runs,
    )
  })

  it('SENTINEL GET-MASTER-ADDR-BY-NAME: an address, null (unknown name) or undefined (distrust it)', () => {
    fc.assert(
      fc.property(reply, (r) => {
        const address = parseMasterAddress(r)
        assert.ok(address === null || address === undefined || validAddress(address))
      }),
      runs,
    )
    assert.deepEqual(parseMasterAddress(['10.0.0.1', '6379']), { host: '10.0.0.1', port: 6379 })
    for (const bad of [['10.0.0.1', '0'], ['', '1'], ['h', '65536'], ['h'], ['h', '1', 'x'], [1, 2], 'h:1']) {
      assert.equal(parseMasterAddress(bad), undefined)
    }
  })

  it('SENTINEL INFO-CACHE, INFO and ROLE: numbers that are numbers, or nothing', () => {
    fc.assert(
      fc.property(reply, fc.integer({ min: 1, max: 65535 }), (r, port) => {
        const offset = masterOffsetFromCache(r, port)
        assert.ok(offset === undefined || Number.isSafeInteger(offset))
        const role = roleOffset(r)
        assert.ok(role === undefined || (Number.isSafeInteger(role) && role >= 0))
        for (const [k, v] of Object.entries(pairs(r))) assert.ok(typeof k === 'string' && typeof v === 'string')
      }),
      runs,
    )
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(fc.string()).map((l) => l.join('\r\n')),
        ),
        (text) => {
          const info = parseInfo(text)
          const problem = roleProblem('replica', info, { maxLinkDownMs: 1000 })
          assert.ok(problem === undefined || typeof problem === 'string')
        },
      ),
      runs,
    )
  })

  it('huge replies are parsed, not choked on', () => {
    const entry = ['ip', '127.0.0.1', 'port', '6380', 'flags', 'slave', 'master-link-status', 'ok']
    assert.equal(parseReplicas(Array.from({ length: 100_000 }, () => entry)).length, 100_000)
    assert.equal(parseInfo(`role:master\r\n${'x:y\r\n'.repeat(200_000)}`).role, 'master')
    assert.equal(parseReplicas([Array.from({ length: 1_000_000 }, (_, i) => `k${i}`)]).length, 0)
  })

  it('sentinel pub/sub events: ours, well formed, or nothing', () => {
    const word = fc.oneof(fc.constantFrom('mymaster', 'slave', '@', '127.0.0.1', '6379', '::1', ''), fc.string())
    fc.assert(
      fc.property(
        fc.constantFrom('+switch-master', '+promoted-slave', '+sdown', '-sdown', '+odown', 'other'),
        fc.array(word, { maxLength: 10 }).map((w) => w.join(' ')),
        (channel, message) => {
          const event = parseSentinelEvent(channel, message, 'mymaster')
          assert.ok(event === undefined || event.master === 'mymaster')
        },
      ),
      runs,
    )
  })
})

describe('fuzzed user input', () => {
  it('options, sentinels, allowedNodes and tokens: a valid value or INVALID_OPTION', () => {
    fc.assert(
      fc.property(wild, (input) => {
        const sentinel = typed(() => parseSentinel(input as never))
        if (sentinel) assert.ok(validAddress(sentinel))
        const allowed = typed(() => parseAllowedNodes(input))
        if (allowed) assert.equal(typeof allowed('10.0.0.1'), 'boolean')
        typed(() => parseToken(input))
        typed(() => normalize(input as never))
        typed(() => normalize({ name: 'm', sentinels: ['h:1'], ...(typeof input === 'object' ? input : {}) } as never))
      }),
      runs,
    )
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 5 }), fc.string(), (entries, host) => {
        const allowed = typed(() => parseAllowedNodes(entries))
        if (allowed) assert.equal(typeof allowed(host), 'boolean')
      }),
      runs,
    )
  })
})
