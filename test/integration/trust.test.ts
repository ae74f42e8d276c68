// A sentinel is trusted only as far as its answers hold (issue 21): a refused answer moves its
// sentinel to the back of the order, and the next attempt asks the others first.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { TwiceRedis, type TwiceRedisEvents } from '../../src/index.js'
import { fakeServer } from '../helpers/fake-sentinel.js'
import { labPerFile } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

const fixture = labPerFile({ replicas: 1 })
const lab = new Proxy({} as typeof fixture.lab, { get: (_, key) => Reflect.get(fixture.lab, key) })

/** A sentinel that names `master` (with `epoch` as its config epoch), no replicas, no other sentinels. */
const sentinelNaming = (master: () => { host: string; port: number }, epoch = 0) =>
  fakeServer(([command, sub]) => {
    if (command?.toUpperCase() !== 'SENTINEL') return new Error('ERR unknown command')
    const verb = sub?.toUpperCase()
    if (verb === 'GET-MASTER-ADDR-BY-NAME') return [master().host, String(master().port)]
    if (verb === 'MASTER') return ['name', 'mymaster', 'config-epoch', String(epoch)]
    return []
  })

const fakes: { close(): Promise<void> }[] = []
after(() => Promise.all(fakes.map((f) => f.close())))

/**
 * TwiceRedis instances on `sentinels` (each shuffled on its own) until both orders were seen:
 * the first sentinel given first, and the other first. 2^-40 that 40 tries see only one order.
 */
async function eachOrder(sentinels: string[], options: object, use: (tr: TwiceRedis) => Promise<void>) {
  const firsts = new Set<string>()
  for (let i = 0; i < 40 && firsts.size < 2; i++) {
    const tr = new TwiceRedis('mymaster', sentinels, undefined, { sentinelTimeoutMs: 1000, ...options })
    try {
      firsts.add(tr.sentinels[0]!)
      await use(tr)
    } finally {
      await tr.quit()
    }
  }
  assert.equal(firsts.size, 2, 'saw both orders')
}

describe('a refused answer', () => {
  it('outside allowedNodes: every write succeeds whichever sentinel is first, and the liar goes to the back', async () => {
    const elsewhere = { host: '127.0.0.2', port: 6379 }
    const liar = await sentinelNaming(() => elsewhere)
    fakes.push(liar)
    const honest = lab.sentinels[0]!.address
    await eachOrder([liar.address, honest], { allowedNodes: ['127.0.0.1/32'] }, async (tr) => {
      const refused: TwiceRedisEvents['sentinel-answer-refused'][0][] = []
      tr.on('sentinel-answer-refused', (r) => refused.push(r))
      const liarFirst = tr.sentinels[0] === liar.address
      for (let i = 0; i < 5; i++) {
        await tr.master.set('trust', String(i))
        tr.master.disconnect()
      }
      // Asked once at most: then at the back of the order.
      assert.equal(refused.length, liarFirst ? 1 : 0)
      if (liarFirst) {
        assert.deepEqual(refused[0], {
          sentinel: liar.address,
          master: '127.0.0.2:6379',
          reason: 'master 127.0.0.2:6379 is not in allowedNodes',
        })
      }
      assert.equal(tr.sentinels.at(-1), liarFirst ? liar.address : tr.sentinels.at(-1))
      assert.notEqual(tr.sentinels[0], liar.address)
    })
  })

  it('a stale sentinel naming a replica: the role check refuses it once, the retry asks the others', async () => {
    const stale = await sentinelNaming(() => lab.replicas[0]!)
    fakes.push(stale)
    const honest = lab.sentinels[0]!.address
    await eachOrder([stale.address, honest], { maxRetriesPerRequest: 3 }, async (tr) => {
      const refused: TwiceRedisEvents['sentinel-answer-refused'][0][] = []
      tr.on('sentinel-answer-refused', (r) => refused.push(r))
      const staleFirst = tr.sentinels[0] === stale.address
      for (let i = 0; i < 5; i++) {
        await tr.master.set('trust', String(i))
        tr.master.disconnect()
      }
      assert.equal(refused.length, staleFirst ? 1 : 0)
      if (staleFirst) {
        assert.equal(refused[0]!.sentinel, stale.address)
        assert.equal(refused[0]!.master, lab.replicas[0]!.address)
        assert.match(refused[0]!.reason, /reports role slave/)
      }
      assert.notEqual(tr.sentinels[0], stale.address)
    })
  })

  it('three sentinels and one liar: 0 of 100 reconnects fail', async () => {
    const liar = await sentinelNaming(() => ({ host: '127.0.0.2', port: 6379 }))
    fakes.push(liar)
    const [a, b] = lab.sentinels
    const tr = new TwiceRedis('mymaster', [a!.address, b!.address, liar.address], undefined, {
      allowedNodes: ['127.0.0.1/32'],
    })
    let failed = 0
    try {
      for (let i = 0; i < 100; i++) {
        await tr.master.set('trust', String(i)).catch(() => failed++)
        tr.master.disconnect()
      }
    } finally {
      await tr.quit()
    }
    assert.equal(failed, 0)
  })

  it('when sentinels disagree, the answer with the higher config epoch wins over the one that came first', async () => {
    // A stale sentinel names the replica with epoch 0; the other names the master with epoch 5.
    const stale = await sentinelNaming(() => lab.replicas[0]!, 0)
    const honest = await sentinelNaming(() => lab.master, 5)
    fakes.push(stale, honest)
    /** An instance that asks `first` first. */
    const asking = async (first: string) => {
      for (;;) {
        const tr = new TwiceRedis('mymaster', [stale.address, honest.address])
        if (tr.sentinels[0] === first) return tr
        await tr.quit()
      }
    }
    const informed = await asking(honest.address)
    const misled = await asking(stale.address)
    try {
      await informed.master.set('trust', 'x') // the process has seen epoch 5
      const rejected: string[] = []
      const refused: TwiceRedisEvents['sentinel-answer-refused'][0][] = []
      misled.on('node-rejected', (r) => rejected.push(r.address))
      misled.on('sentinel-answer-refused', (r) => refused.push(r))
      await misled.master.set('trust', 'y')
      assert.deepEqual(rejected, [], 'connected to the master of the older epoch')
      assert.equal(misled.master.node?.address, lab.master.address)
      assert.equal(refused[0]?.sentinel, stale.address)
      assert.match(refused[0]!.reason, /config epoch 0 is older than epoch 5/)
      assert.deepEqual(misled.sentinels, [honest.address, stale.address])
    } finally {
      await Promise.all([informed.quit(), misled.quit()])
    }
  })
})

describe('sharing discoveries', () => {
  it('an instance with allowedNodes does not join a discovery that takes answers it would refuse', async () => {
    const elsewhere = await fakeServer(() => 'OK', '127.0.0.2')
    const liar = await sentinelNaming(() => elsewhere)
    fakes.push(liar, elsewhere)
    const sentinels = [liar.address, lab.sentinels[0]!.address]
    // An instance without allowedNodes that asks the liar first: its discovery takes the liar's word.
    let trusting = new TwiceRedis('mymaster', sentinels, undefined, { maxRetriesPerRequest: 0 })
    for (let i = 0; i < 40 && trusting.sentinels[0] !== liar.address; i++) {
      await trusting.quit()
      trusting = new TwiceRedis('mymaster', sentinels, undefined, { maxRetriesPerRequest: 0 })
    }
    const guarded = new TwiceRedis('mymaster', sentinels, undefined, { allowedNodes: ['127.0.0.1/32'] })
    try {
      assert.equal(trusting.sentinels[0], liar.address)
      // Both start a discovery in the same tick: sharing it, the guarded one would get the liar's answer.
      const [, written] = await Promise.all([
        trusting.master.get('k').catch(() => {}),
        guarded.master.set('shared', '1').catch((e: unknown) => e),
      ])
      assert.equal(written, 'OK')
    } finally {
      await Promise.all([trusting.quit(), guarded.quit()])
    }
  })
})

describe('credentials and db in the ioredis option objects', () => {
  it('redisOptions username/password and per-side db are honoured (ACL WHOAMI, CLIENT INFO)', async () => {
    for (const node of lab.dataNodes) {
      await lab.command(node, 'ACL', 'SETUSER', 'app', 'on', '>app-password', '~*', '&*', '+@all')
    }
    const tr = new TwiceRedis({
      name: 'mymaster',
      sentinels: lab.sentinelAddresses,
      redisOptions: { username: 'app', password: 'app-password' },
      replicaOptions: { db: 2 },
    })
    try {
      assert.equal(await tr.master.call('ACL', 'WHOAMI'), 'app')
      assert.equal(await tr.slave.call('ACL', 'WHOAMI'), 'app')
      assert.match(String(await tr.master.call('CLIENT', 'INFO')), / db=0 /)
      assert.match(String(await tr.slave.call('CLIENT', 'INFO')), / db=2 /)
    } finally {
      await tr.quit()
    }
  })
})

describe('quit()', () => {
  it('resolves only once the client has ended, also when an error event comes while it closes', async () => {
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses)
    tr.on('error', () => {})
    await tr.master.ping()
    const quitting = tr.master.quit()
    // ioredis reports a socket error on its way out as an `error` event (a reset, a write after FIN).
    tr.master.emit('error', new Error('read ECONNRESET'))
    await quitting
    assert.equal(tr.master.status, 'end')
    await tr.quit()
  })
})

describe('lazyConnect: false', () => {
  it('connects at once, through the lifecycle from the first connection', async () => {
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, { lazyConnect: false })
    try {
      const ready = new Promise((resolve) => tr.master.once('ready', resolve))
      await ready
      // The first connection went through the connector's hooks: the node in use is named.
      assert.equal(tr.master.options.port, lab.master.port)
      // ...and through the lifecycle: an announced switch to another master moves it (a kick is
      // ignored by a client the lifecycle thinks idle).
      const resolvedAgain = new Promise((resolve) => tr.once('resolved', resolve))
      tr.master.kick('127.0.0.1:1', lab.sentinels[0]!.address)
      let timer: NodeJS.Timeout | undefined
      const hung = new Promise((resolve) => {
        timer = setTimeout(() => resolve('no reconnect within 5 s'), 5000)
      })
      assert.notEqual(await Promise.race([resolvedAgain, hung]), 'no reconnect within 5 s')
      clearTimeout(timer)
      // A disconnect() is not the end: the next command reconnects.
      tr.master.disconnect()
      assert.equal(await tr.master.ping(), 'PONG')
    } finally {
      await tr.quit()
    }
  })
})

describe('commands before the role check', () => {
  it('no command of the user is written to a node before the role check accepted it', async () => {
    // A stale sentinel names a replica as the master: the role check refuses it, every time.
    const stale = await sentinelNaming(() => lab.replicas[0]!)
    fakes.push(stale)
    const replica = lab.replicas[0]!
    const stats = async () => String(await lab.command(replica, 'INFO', 'commandstats'))
    const calls = (text: string, command: string) =>
      Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(text)?.[1] ?? 0)
    const tr = new TwiceRedis('mymaster', [stale.address], undefined, {
      maxRetriesPerRequest: 1,
      healthCheckIntervalMs: 0,
    })
    tr.on('error', () => {})
    // PUBLISH is counted by who hears it (sentinels publish their hellos on every node).
    const listener = new Redis({ host: replica.host, port: replica.port })
    const heard: string[] = []
    listener.on('message', (_channel: string, message: string) => heard.push(message))
    await listener.subscribe('trust:channel')
    const before = await stats()
    try {
      // Sent while the connection is open and the role check not yet done (ioredis' `connect`).
      tr.master.on('connect', () => {
        tr.master.publish('trust:channel', 'x').catch(() => {})
        tr.master.select(0).catch(() => {})
        tr.master.call('ROLE').catch(() => {})
        tr.master.info('server').catch(() => {})
        tr.master
          .multi()
          .set('trust:k', 'v')
          .exec()
          .catch(() => {})
      })
      await tr.master.ping().catch(() => {})
      await lab.command(replica, 'PUBLISH', 'trust:channel', 'marker') // after any message of ours
      await until(() => heard.includes('marker'), 'the marker message')
    } finally {
      await tr.quit()
      listener.disconnect()
    }
    const after = await stats()
    assert.deepEqual(heard, ['marker'], 'PUBLISH reached the refused node')
    for (const command of ['select', 'role', 'multi', 'exec']) {
      assert.equal(calls(after, command), calls(before, command), `${command} reached the refused node`)
    }
  })
})
