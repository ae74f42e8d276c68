// A hostile network: a sentinel that names nodes elsewhere gets nothing with `allowedNodes`.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TwiceRedis, type TwiceRedisEvents } from '../../src/index.js'
import { type Answer, fakeServer } from '../helpers/fake-sentinel.js'
import { withLab } from '../helpers/lab.js'

/** A sentinel that names `master` as the master of `mymaster`, with no replicas. */
const lyingSentinel = (master: { host: string; port: number }) =>
  fakeServer(([command, sub]) => {
    if (command?.toUpperCase() !== 'SENTINEL') return new Error('ERR unknown command')
    if (sub?.toUpperCase() === 'GET-MASTER-ADDR-BY-NAME') return [master.host, String(master.port)]
    return []
  })

describe('allowedNodes', () => {
  it('a lying sentinel cannot redirect the write side: no connection, no password, a typed error', async () => {
    // Somewhere the application must not send its data or its password (127.0.0.2 is loopback too).
    const elsewhere = await fakeServer(() => 'OK', '127.0.0.2')
    const sentinel = await lyingSentinel(elsewhere)
    const trusting = new TwiceRedis('mymaster', [sentinel.address], 'the-data-password', { maxRetriesPerRequest: 0 })
    const guarded = new TwiceRedis('mymaster', [sentinel.address], 'the-data-password', {
      allowedNodes: ['127.0.0.1/32'],
    })
    try {
      const error = await guarded.master.get('k').catch((e: unknown) => e)
      assert.equal((error as { code?: string }).code, 'NODE_NOT_ALLOWED')
      assert.match((error as Error).message, /127\.0\.0\.2:\d+/)
      assert.doesNotMatch((error as Error).message, /the-data-password/)
      assert.equal(elsewhere.connections, 0, 'connected to a node outside allowedNodes')
      // Without the option the same sentinel gets the password sent there (the threat).
      await trusting.master.get('k').catch(() => {})
      assert.ok(elsewhere.received.some((args) => args.includes('the-data-password')))
    } finally {
      await Promise.all([trusting.quit(), guarded.quit()])
      await Promise.all([sentinel.close(), elsewhere.close()])
    }
  })

  it('is applied after natMap', async () => {
    const sentinel = await lyingSentinel({ host: '10.9.9.9', port: 6379 })
    const tr = new TwiceRedis('mymaster', [sentinel.address], undefined, {
      natMap: { '10.9.9.9:6379': { host: '127.0.0.3', port: 6379 } },
      allowedNodes: ['10.0.0.0/8'], // the announced address is allowed, where natMap sends us is not
    })
    try {
      await assert.rejects(tr.master.get('k'), { code: 'NODE_NOT_ALLOWED' })
    } finally {
      await tr.quit()
      await sentinel.close()
    }
  })

  it('the read side skips replicas outside allowedNodes, with the reason in events and topology()', () =>
    withLab(async (lab, open) => {
      // Every lab node is on 127.0.0.1: natMap sends the replicas to a name outside the list.
      const replicas = new Set(lab.replicas.map((r) => r.address))
      const guarded = open({
        allowedNodes: ['127.0.0.1/32', '*.allowed.test'],
        natMap: (address) => (replicas.has(address) ? { host: 'replica.elsewhere.test', port: 6379 } : null),
      })
      const rejected: TwiceRedisEvents['node-rejected'][0][] = []
      guarded.on('node-rejected', (r) => rejected.push(r))
      await guarded.slave.get('k')
      assert.equal(guarded.slave.node?.role, 'master', 'reads fell back to the master')
      assert.deepEqual(
        [...new Set(rejected.map((r) => `${r.address} ${r.reason}`))].sort(),
        [...replicas].map((a) => `${a} not in allowedNodes`).sort(),
      )
      const topology = await guarded.topology()
      assert.ok(topology.replicas.every((r) => r.reason === 'not in allowedNodes' && !r.eligible))
      // Inside the list, replicas serve reads as usual.
      const plain = open({ allowedNodes: ['127.0.0.0/8'] })
      await plain.slave.get('k')
      assert.equal(plain.slave.node?.role, 'replica')
    }))
})

describe('a sentinel that answers garbage', () => {
  /**
   * A sentinel whose GET-MASTER-ADDR-BY-NAME answer is `master`, and REPLICAS (and SENTINELS)
   * answer `replicas`. (SENTINEL MASTER gets none: a third huge reply would only test the time
   * bound on a loaded machine.)
   */
  const liar = (master: Answer, replicas: unknown = []) =>
    fakeServer(([, sub]) => {
      const verb = sub?.toUpperCase()
      if (verb === 'GET-MASTER-ADDR-BY-NAME') return master
      return verb === 'MASTER' ? [] : (replicas as never)
    })

  /** Resolves with the error code, or fails the test if the client hangs. */
  const code = async (p: Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined
    const hung = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('hung: no answer within 10 s')), 10_000)
    })
    try {
      return await Promise.race([
        p.then(
          () => 'no error',
          (e: { code?: string }) => e.code ?? String(e),
        ),
        hung,
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  it('wrong types, huge arrays, bytes that are not RESP, a reply cut in the middle: typed errors within the bound', async () => {
    const sentinels = await Promise.all([
      liar(42),
      liar(['127.0.0.1', 'not-a-port']),
      liar(Array.from({ length: 100_000 }, (_, i) => `x${i}`)),
      liar({ raw: '%%% not resp at all\r\n' }),
      liar({ raw: '*2\r\n$9\r\n127.0' }), // and then nothing
    ])
    try {
      for (const sentinel of sentinels) {
        const tr = new TwiceRedis('mymaster', [sentinel.address], undefined, { sentinelTimeoutMs: 300 })
        const reasons: string[] = []
        tr.on('sentinel-unreachable', ({ reason }) => reasons.push(reason))
        try {
          assert.equal(await code(tr.master.get('k')), 'NO_SENTINEL_REACHABLE', sentinel.address)
          assert.equal(reasons.length, 1)
        } finally {
          await tr.quit()
        }
      }
    } finally {
      await Promise.all(sentinels.map((s) => s.close()))
    }
  })

  it('a garbage replica list leaves no replica, and topology() still answers', async () => {
    const garbage = [[1, 2, 3], 'x', null, Array.from({ length: 50_000 }, () => 'ip'), ['ip', '', 'port', '0']]
    const sentinel = await liar(['127.0.0.1', '1'], garbage)
    const tr = new TwiceRedis('mymaster', [sentinel.address], undefined, { sentinelTimeoutMs: 300 })
    try {
      const topology = await tr.topology()
      assert.deepEqual(topology.replicas, [])
      assert.equal(topology.master?.address, '127.0.0.1:1')
    } finally {
      await tr.quit()
      await sentinel.close()
    }
  })
})

describe('sentinel list refresh', () => {
  it('learns the other sentinels from an answer, and keeps working when the configured one dies', () =>
    withLab(async (lab) => {
      const [seed] = lab.sentinels
      const tr = new TwiceRedis(lab.masterName, [seed!.address], undefined, { sentinelTimeoutMs: 300 })
      try {
        await tr.master.ping()
        assert.deepEqual([...tr.sentinels].sort(), lab.sentinels.map((s) => s.address).sort())
        await lab.kill(seed!)
        tr.disconnect()
        assert.equal(await tr.master.ping(), 'PONG')
        assert.notEqual(tr.sentinels[0], seed!.address)
      } finally {
        await tr.quit()
      }
    }))

  it('a lying sentinel cannot plant others outside allowedNodes', async () => {
    const planted = [['name', 'evil', 'ip', '127.0.0.2', 'port', '26379', 'flags', 'sentinel']]
    const sentinel = await fakeServer(([, sub]) => {
      const subcommand = sub?.toUpperCase()
      if (subcommand === 'GET-MASTER-ADDR-BY-NAME') return ['127.0.0.1', '1']
      return subcommand === 'SENTINELS' ? planted : []
    })
    const guarded = new TwiceRedis('mymaster', [sentinel.address], undefined, { allowedNodes: ['127.0.0.1/32'] })
    const trusting = new TwiceRedis('mymaster', [sentinel.address])
    try {
      await Promise.all([guarded.topology(), trusting.topology()])
      await Promise.all([guarded.master.ping().catch(() => {}), trusting.master.ping().catch(() => {})])
      assert.deepEqual(guarded.sentinels, [sentinel.address])
      assert.deepEqual(trusting.sentinels.sort(), [sentinel.address, '127.0.0.2:26379'].sort())
    } finally {
      await Promise.all([guarded.quit(), trusting.quit()])
      await sentinel.close()
    }
  })
})

describe('the ready check on an older or loading server', () => {
  it('falls back to the full INFO where two sections are refused (Redis < 7), and waits while it loads', async () => {
    let infos = 0
    // A Redis 6 master, as far as twiceredis can tell: RESP2 only, one INFO section at most, loading at first.
    const node = await fakeServer(([command, ...args]) => {
      switch (command?.toUpperCase()) {
        case 'HELLO':
          return new Error("ERR unknown command 'HELLO'")
        case 'INFO':
          if (args.length > 1) return new Error('ERR syntax error')
          infos++
          return `# Replication\r\nrole:master\r\n# Persistence\r\nloading:${infos === 1 ? 1 : 0}\r\n`
        case 'GET':
          return 'from the fake node'
        default:
          return 'OK'
      }
    })
    const sentinel = await lyingSentinel(node)
    const tr = new TwiceRedis('mymaster', [sentinel.address], undefined, { healthCheckIntervalMs: 0 })
    try {
      assert.equal(await tr.master.get('k'), 'from the fake node')
      const asked = node.received.filter(([c]) => c?.toUpperCase() === 'INFO' || c?.toUpperCase() === 'GET')
      assert.deepEqual(
        asked.map((args) => args.join(' ')),
        ['info replication persistence', 'info', 'info', 'get k'],
        'two sections first, then the full INFO until it no longer loads, then the command',
      )
    } finally {
      tr.disconnect() // the fake node never closes on QUIT
      await tr.quit()
      await Promise.all([sentinel.close(), node.close()])
    }
  })
})
