import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Redis } from 'ioredis'
import type { TwiceRedis } from '../../src/index.js'
import { streamOf } from '../../src/ioredis-internals.js'
import type { Lab } from '../../src/lab/index.js'
import { labPerFile } from '../helpers/lab.js'

/** The replica `tr.slave` reads from, as the lab knows it. */
function replicaOf(lab: Lab, tr: TwiceRedis) {
  const node = tr.slave.node && lab.node(tr.slave.node.address)
  if (!node) throw new Error('tr.slave is not connected')
  return node
}

/** The cache is tracking: a read of `key` was a miss, the next one a hit. */
async function cached(tr: TwiceRedis, key: string): Promise<void> {
  const before = (await tr.topology()).cache?.hits ?? 0
  await tr.slave.get(key)
  await tr.slave.get(key)
  const hits = (await tr.topology()).cache?.hits ?? 0
  if (hits > before) return
  // The tracking pair starts as tr.slave connects: wait for it, then read again.
  await waitForHit(tr, key)
}

async function waitForHit(tr: TwiceRedis, key: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const before = (await tr.topology()).cache?.hits ?? 0
    await tr.slave.get(key)
    if (((await tr.topology()).cache?.hits ?? 0) > before) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`no hit for ${key}`)
}

/** Wait until `probe` is true (bounded). */
async function until(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await probe()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The replica's CLIENT LIST lines (one per connection). */
async function clientList(port: number): Promise<string[]> {
  const admin = new Redis(port)
  try {
    return String(await admin.client('LIST'))
      .trim()
      .split('\n')
  } finally {
    admin.disconnect()
  }
}

/** Kill the connections on `port` whose CLIENT LIST line has `field` (`name=...`, `id=...`). */
async function kill(port: number, field: string): Promise<void> {
  const ids = (await clientList(port)).filter((l) => l.split(' ').includes(field)).map((l) => /id=(\d+)/.exec(l)?.[1])
  const admin = new Redis(port)
  try {
    for (const id of ids) await admin.client('KILL', 'ID', String(id))
  } finally {
    admin.disconnect()
  }
}

describe('clientCache', () => {
  const file = labPerFile({ replicas: 1, sentinels: 1 })

  it('off by default: no cache in topology, reads are ioredis own', async () => {
    const tr = file.open()
    await tr.master.set('off', '1')
    await tr.master.wait(1, 5000)
    assert.equal(await tr.slave.get('off'), '1')
    assert.equal((await tr.topology()).cache, undefined)
  })

  it('a hit is answered from memory; a write by anyone invalidates it', async () => {
    const tr = file.open({ clientCache: true })
    await tr.master.set('k1', 'v1')
    await tr.master.wait(1, 5000)
    await cached(tr, 'k1')
    const writer = new Redis(file.lab.master.port)
    try {
      await writer.set('k1', 'v2')
      await until('the new value', async () => (await tr.slave.get('k1')) === 'v2')
      const stats = (await tr.topology()).cache
      assert.ok(stats && stats.hits >= 1 && stats.misses >= 2 && stats.entries >= 1, JSON.stringify(stats))
    } finally {
      writer.disconnect()
    }
  })

  it('every cached command, with callbacks, keyPrefix and copies the application may change', async () => {
    const tr = file.open({ clientCache: true, keyPrefix: 'p:' })
    await tr.master.mset('a', '1', 'b', '22')
    await tr.master.hset('h', 'f', 'v', 'g', 'w')
    await tr.master.sadd('s', 'x', 'y')
    await tr.master.zadd('z', 1, 'm', 2, 'n')
    await tr.master.rpush('l', 'p', 'q')
    await tr.master.wait(1, 5000)
    await cached(tr, 'a')
    const s = tr.slave
    const reads = [
      () => s.get('a'),
      () => s.mget('a', 'b'),
      () => s.mget(['a', 'b']),
      () => s.strlen('b'),
      () => s.exists('a', 'b', 'nope'),
      () => s.type('h'),
      () => s.hget('h', 'f'),
      () => s.hmget('h', 'f', 'g'),
      () => s.hgetall('h'),
      () => s.hexists('h', 'g'),
      () => s.hlen('h'),
      async () => (await s.smembers('s')).sort(),
      () => s.sismember('s', 'x'),
      () => s.scard('s'),
      () => s.zrange('z', '0', '-1', 'WITHSCORES'),
      () => s.zscore('z', 'n'),
      () => s.zcard('z'),
      () => s.lrange('l', 0, -1),
      () => s.llen('l'),
    ]
    // Each twice in a row: the reply of another read of the same key drops the entry (monotonic reads).
    for (const read of reads) {
      const first = await read()
      const hits = (await tr.topology()).cache?.hits ?? 0
      assert.deepEqual(await read(), first)
      assert.equal((await tr.topology()).cache?.hits, hits + 1, `the second ${String(read)} is served from memory`)
    }
    // What the application does to a reply is not the cache's.
    const all = await s.hgetall('h')
    all.f = 'changed'
    ;(await s.lrange('l', 0, -1)).push('more')
    assert.deepEqual(await s.hgetall('h'), { f: 'v', g: 'w' })
    assert.deepEqual(await s.lrange('l', 0, -1), ['p', 'q'])
    // Callbacks, as ioredis calls them.
    const viaCallback = await new Promise((resolve, reject) =>
      s.get('a', (error, value) => (error ? reject(error) : resolve(value))),
    )
    assert.equal(viaCallback, '1')
  })

  it('quit() closes the invalidation connection too', async () => {
    const tr = file.open({ clientCache: true })
    await tr.master.set('q', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'q')
    const port = replicaOf(file.lab, tr).port
    const named = async () =>
      (await clientList(port)).filter((l) => l.includes(' name=twiceredis:cache-invalidations ')).length
    const before = await named()
    assert.ok(before >= 1)
    await tr.quit()
    await until('the invalidation connection to close', async () => (await named()) === before - 1)
  })

  it('inside a MULTI of the application, reads are queued, never answered from memory', async () => {
    const tr = file.open({ clientCache: true })
    await tr.master.set('m1', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'm1')
    await tr.slave.multi({ pipeline: false })
    assert.equal(await tr.slave.get('m1'), 'QUEUED')
    assert.deepEqual(await tr.slave.exec(), [[null, 'x']])
  })

  it('subscribed (RESP2), tr.slave refuses reads as ioredis does, cached or not', async () => {
    const tr = file.open({ clientCache: true, protocol: 2 } as never)
    await tr.master.set('sub', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'sub')
    await tr.slave.subscribe('news')
    await assert.rejects(tr.slave.get('sub'), /subscriber mode/)
    await tr.slave.unsubscribe('news')
    assert.equal(await tr.slave.get('sub'), 'x')
  })

  it("a reply that its own invalidation overtook is not cached (the redirect mode's race)", async () => {
    const tr = file.open({ clientCache: true })
    await tr.master.set('race', 'old')
    await tr.master.wait(1, 5000)
    await cached(tr, 'race')
    const stream = streamOf(tr.slave)
    assert.ok(stream)
    // Hold tr.slave's replies in the socket: a read of the key is answered, its reply held here.
    const id = await tr.slave.client('ID')
    const port = replicaOf(file.lab, tr).port
    stream.pause()
    const inFlight = tr.slave.strlen('race')
    await until('the read to be answered', async () =>
      (await clientList(port)).some((l) => l.startsWith(`id=${id} `) && / cmd=(strlen|pttl) /.test(l)),
    )
    await tr.master.set('race', 'newer')
    // The invalidation arrives on the other connection while the reply is held.
    await until('the invalidation', async () => (await tr.topology()).cache?.entries === 0)
    stream.resume()
    assert.equal(await inFlight, 3)
    assert.equal(await tr.slave.strlen('race'), 5)
  })

  it('FLUSHALL empties the cache (a null invalidation)', async () => {
    const tr = file.open({ clientCache: true })
    const reasons: string[] = []
    tr.on('cache-flushed', ({ reason }) => reasons.push(reason))
    await tr.master.set('f1', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'f1')
    await tr.master.flushall()
    await until('the flush', () => reasons.includes('server-flush'))
    assert.equal(await tr.slave.get('f1'), null)
  })

  it('a reconnect of tr.slave, or the loss of the redirect connection, empties the cache', async () => {
    const tr = file.open({ clientCache: true })
    const reasons: string[] = []
    tr.on('cache-flushed', ({ reason }) => reasons.push(reason))
    await tr.master.set('c1', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'c1')
    const replica = replicaOf(file.lab, tr)
    await kill(replica.port, 'name=twiceredis:cache-invalidations')
    await until('tracking-lost', () => reasons.includes('tracking-lost'))
    assert.equal((await tr.topology()).cache?.entries, 0)
    await waitForHit(tr, 'c1')
    await kill(replica.port, `id=${await tr.slave.client('ID')}`)
    await until('reconnect', () => reasons.includes('reconnect'))
    assert.equal(await tr.slave.get('c1'), 'x')
  })

  it("with consistency 'session', a read after the process' own write sees it (never the cached value)", async () => {
    const tr = file.open({ clientCache: true, consistency: 'session' })
    await tr.master.set('ryw', '0')
    await tr.master.wait(1, 5000)
    await cached(tr, 'ryw')
    for (let i = 1; i <= 20; i++) {
      await tr.master.set('ryw', String(i))
      assert.equal(await tr.slave.get('ryw'), String(i))
      assert.equal(await tr.slave.get('ryw'), String(i))
    }
    // Read again with no write since: served from memory, at the same floor.
    await waitForHit(tr, 'ryw')
    assert.equal(await tr.slave.get('ryw'), '20')
  })

  it("after readAfter(token), a read sees the other process' writes (never the cached value)", async () => {
    const tr = file.open({ clientCache: true })
    const other = file.open()
    await tr.master.set('ra', 'old')
    await tr.master.wait(1, 5000)
    await cached(tr, 'ra')
    for (let i = 0; i < 20; i++) {
      await other.master.set('ra', `new${i}`)
      tr.readAfter(await other.writeToken())
      assert.equal(await tr.slave.get('ra'), `new${i}`)
    }
    await waitForHit(tr, 'ra') // at the same floor, from memory again
  })

  it('a full resync of the replica empties the cache (a null invalidation)', async () => {
    // Its link may be down for a while: the read side stays on it, the cache with it.
    const tr = file.open({ clientCache: true, maxLinkDownMs: 60_000 })
    const reasons: string[] = []
    tr.on('cache-flushed', ({ reason }) => reasons.push(reason))
    await tr.master.set('fr', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'fr')
    const { lab } = file
    const replica = replicaOf(lab, tr)
    const backlog = (await lab.command(lab.master, 'CONFIG', 'GET', 'repl-backlog-size')) as string[]
    try {
      // The link down while the master writes more than its backlog holds: the replica must load afresh.
      await lab.command(lab.master, 'CONFIG', 'SET', 'repl-backlog-size', '16384')
      await lab.breakReplicaLink(replica, { wait: false })
      for (let i = 0; i < 8; i++) await tr.master.set(`fill${i}`, 'x'.repeat(8192))
      await lab.restoreReplicaLink(replica, { wait: false })
      await until('the flush', () => reasons.length > 0)
      assert.deepEqual(reasons, ['server-flush'])
      assert.equal(await tr.slave.get('fr'), 'x')
    } finally {
      await lab.restoreReplicaLink(replica)
      await lab.command(lab.master, 'CONFIG', 'SET', 'repl-backlog-size', String(backlog[1]))
    }
  })

  it('a key whose TTL passed is not served, though its DEL has not come from the master', async () => {
    // The link stays down (the read side keeps the replica): no DEL from the master can arrive.
    const tr = file.open({ clientCache: true, maxLinkDownMs: 60_000 })
    const { lab } = file
    await tr.master.set('ttl', 'v', 'PX', 500)
    await tr.master.wait(1, 5000)
    await cached(tr, 'ttl')
    const replica = replicaOf(lab, tr)
    const direct = new Redis(replica.port)
    try {
      await lab.breakReplicaLink(replica, { wait: false })
      // An uncached read of the replica: the key is gone for readers once its TTL passed.
      await until('the TTL to pass', async () => (await direct.get('ttl')) === null)
      assert.equal(await tr.slave.get('ttl'), null)
    } finally {
      direct.disconnect()
      await lab.restoreReplicaLink(replica)
    }
  })

  it('a replica whose link broke: the read side leaves it, and the cache is emptied', async () => {
    const tr = file.open({ clientCache: true, healthCheckIntervalMs: 100 })
    const reasons: string[] = []
    tr.on('cache-flushed', ({ reason }) => reasons.push(reason))
    await tr.master.set('lb', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'lb')
    const replica = replicaOf(file.lab, tr)
    try {
      await file.lab.breakReplicaLink(replica, { wait: false })
      await until('the flush', () => reasons.length > 0)
      assert.equal((await tr.topology()).cache?.entries, 0, reasons.join())
    } finally {
      await file.lab.restoreReplicaLink(replica)
    }
  })

  it('a node that refuses CLIENT TRACKING: CACHE_UNAVAILABLE once, and reads as without the cache', async () => {
    const { lab } = file
    for (const node of [lab.master, ...lab.replicas]) {
      await lab.command(node, 'ACL', 'SETUSER', 'nocache', 'on', '>pw', '~*', '&*', '+@all', '-client|tracking')
    }
    const tr = file.open({ clientCache: true, username: 'nocache', password: 'pw' })
    const errors: Error[] = []
    tr.on('error', (error) => errors.push(error))
    await tr.master.set('na', 'x')
    await tr.master.wait(1, 5000)
    await until('the refusal', async () => (await tr.slave.get('na')) === 'x' && errors.length > 0)
    for (let i = 0; i < 5; i++) assert.equal(await tr.slave.get('na'), 'x')
    assert.deepEqual(
      errors.map((e) => (e as Error & { code?: string }).code),
      ['CACHE_UNAVAILABLE'],
    )
    assert.equal((await tr.topology()).cache?.hits, 0)
  })

  it('a failover empties the cache (the write fence, the new master)', async () => {
    const tr = file.open({ clientCache: true })
    const reasons: string[] = []
    tr.on('cache-flushed', ({ reason }) => reasons.push(reason))
    await tr.master.set('fo', 'x')
    await tr.master.wait(1, 5000)
    await cached(tr, 'fo')
    await file.lab.failover()
    await file.lab.waitForNewMaster()
    await until('the flushes', () => reasons.includes('failover'))
    assert.ok(reasons.includes('write-fence'), reasons.join())
    await until('the cache again', async () => (await tr.slave.get('fo')) === 'x')
  })
})
