// Same-zone reads on a lab whose data nodes each have their own loopback address (zones are
// mapped by address), and a fake node that announces its own zone. Reads are counted on the
// nodes themselves (INFO commandstats), not timed.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TwiceRedis, type TwiceRedisEvents } from '../../src/index.js'
import type { Lab, LabNode } from '../../src/lab/index.js'
import { parseInfo } from '../../src/protocol/node-info.js'
import { fakeServer } from '../helpers/fake-sentinel.js'
import { labPerFile } from '../helpers/lab.js'
import { startLoad, until } from '../helpers/load.js'

/** GETs each data node served since the last {@link resetStats}, by address. */
async function gets(lab: Lab): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const node of lab.dataNodes) {
    const stats = parseInfo(String(await lab.command(node, 'INFO', 'commandstats')))
    out.set(node.address, Number(/calls=(\d+)/.exec(stats.cmdstat_get ?? '')?.[1] ?? 0))
  }
  return out
}

async function resetStats(lab: Lab): Promise<void> {
  for (const node of lab.dataNodes) await lab.command(node, 'CONFIG', 'RESETSTAT')
}

const sum = (counts: Map<string, number>, nodes: readonly LabNode[]) =>
  nodes.reduce((n, node) => n + (counts.get(node.address) ?? 0), 0)

describe('same-zone reads (1 master, 4 replicas, 2 zones)', () => {
  // The master 127.0.0.11 and replicas .14, .15 in zone b; replicas .12, .13 in zone a.
  const fx = labPerFile({ replicas: 4, distinctAddresses: true, downAfterMs: 5000 })
  const zones = { a: ['127.0.0.12', '127.0.0.13'], b: ['127.0.0.11', '127.0.0.14', '127.0.0.15'] }
  const nodes = () => {
    const [master, a1, a2, b1, b2] = fx.lab.dataNodes as LabNode[]
    return { master: master!, a1: a1!, a2: a2!, b1: b1!, b2: b2!, zoneA: [a1!, a2!], zoneB: [master!, b1!, b2!] }
  }
  const options = {
    clientZone: 'a',
    zones,
    replicaSelection: 'same-zone',
    healthCheckIntervalMs: 100,
    maxRetriesPerRequest: 5,
  } as const
  const open = () => fx.open(options)
  /** Resolves with the first replica-side `resolved` event that matches. */
  const resolvedWhere = (tr: TwiceRedis, match: (e: TwiceRedisEvents['resolved'][0]) => boolean) =>
    new Promise<TwiceRedisEvents['resolved'][0]>((resolve) => {
      const on = (e: TwiceRedisEvents['resolved'][0]) => {
        if (e.side !== 'replica' || !match(e)) return
        tr.off('resolved', on)
        resolve(e)
      }
      tr.on('resolved', on)
    })

  it('100 % of reads go to same-zone replicas while one is healthy, spread over both', async () => {
    const { zoneA, zoneB } = nodes()
    const tr = open()
    await tr.master.set('k', 'v')
    await tr.master.wait(4, 5000)
    await resetStats(fx.lab)
    for (let i = 0; i < 40; i++) {
      assert.equal(await tr.slave.get('k'), 'v')
      tr.slave.disconnect() // the next read picks again
    }
    for (let i = 0; i < 200; i++) await tr.slave.get('k')
    const counts = await gets(fx.lab)
    assert.equal(sum(counts, zoneA), 240, `reads per node: ${[...counts]}`)
    assert.equal(sum(counts, zoneB), 0)
    for (const node of zoneA) assert.ok(counts.get(node.address)! > 0, `${node.address} never chosen`)
    const topology = await tr.topology()
    assert.deepEqual(topology.zones, { client: 'a', read: 'a', reason: undefined })
    assert.equal(topology.master?.zone, 'b')
    assert.deepEqual(
      topology.replicas.map((r) => `${r.address} ${r.zone} ${r.zoneSource}`).sort(),
      fx.lab.replicas.map((r) => `${r.address} ${zoneA.includes(r) ? 'a' : 'b'} map`).sort(),
    )
  })

  it("reads leave the zone when the last same-zone replica's link breaks, and come back when it recovers", async (t) => {
    const { a1, a2, zoneA, zoneB } = nodes()
    const tr = open()
    const load = startLoad(tr)
    try {
      await fx.lab.breakReplicaLink(a2) // a1 is now the zone's last healthy replica
      await until(() => tr.slave.node?.address === a1.address, 'reads on the last replica of zone a', 15_000)
      const left = resolvedWhere(tr, (e) => e.zone === 'b')
      const brokenAt = Date.now()
      await fx.lab.breakReplicaLink(a1, { wait: false })
      const event = await left
      t.diagnostic(`left zone a ${Date.now() - brokenAt} ms after the link broke (health check every 100 ms)`)
      assert.match(event.zoneReason ?? '', /^no healthy replica in zone a: /)
      await resetStats(fx.lab)
      const before = load.progress('replica')
      await until(() => load.progress('replica') >= before + 50, '50 reads in zone b')
      let counts = await gets(fx.lab)
      assert.equal(sum(counts, zoneA), 0, `reads per node: ${[...counts]}`)
      assert.ok(sum(counts, zoneB) >= 50)
      const { zones: outside } = await tr.topology()
      assert.equal(outside?.read, 'b')
      assert.match(outside?.reason ?? '', /zone a/)

      const back = resolvedWhere(tr, (e) => e.zone === 'a')
      await Promise.all([fx.lab.restoreReplicaLink(a1), fx.lab.restoreReplicaLink(a2)])
      await back
      await resetStats(fx.lab)
      const after = load.progress('replica')
      await until(() => load.progress('replica') >= after + 50, '50 reads back in zone a')
      counts = await gets(fx.lab)
      assert.equal(sum(counts, zoneB), 0, `reads per node: ${[...counts]}`)
      assert.ok(sum(counts, zoneA) >= 50)
    } finally {
      const report = await load.stop()
      assert.deepEqual(report.failed, {})
    }
  })

  /**
   * A failover that promotes `to` (the sentinels pick the lowest replica-priority), with reads
   * going on; returns the GETs each node served from just before the failover (`counted: 'all'`)
   * or from once reads are back on a replica of zone a that follows the new master (`'settled'`).
   */
  async function failoverTo(
    to: LabNode,
    tr: TwiceRedis,
    counted: 'all' | 'settled',
    zoneA: readonly LabNode[],
  ): Promise<{ counts: Map<string, number>; story: string }> {
    for (const node of fx.lab.replicas) {
      await fx.lab.command(node, 'CONFIG', 'SET', 'replica-priority', node === to ? '1' : '100')
    }
    let seen = false
    await until(
      () => seen,
      'the sentinels to see the replica priorities',
      15_000,
      async () => {
        const all = [...(await fx.lab.sentinelReplicas()).values()]
        seen = all.every((rs) => rs.every((r) => r.priority === (r.address === to.address ? 1 : 100)))
      },
    )
    // What the read side did, for the failure messages.
    const started = Date.now()
    const story: string[] = []
    const tell = (what: string) => story.push(`${Date.now() - started} ms ${what}`)
    tr.on('resolved', (e) => e.side === 'replica' && tell(`read side on ${e.address} (${e.role}, ${e.zone})`))
    tr.on('node-rejected', (e) => tell(`${e.side} side rejected ${e.address}: ${e.reason}`))
    tr.on('replica-changed', (e) => tell(`read side moved ${e.from} -> ${e.to}`))
    const told = () => `\n${story.join('\n')}`
    const load = startLoad(tr)
    try {
      await until(() => load.progress('replica') > 10, 'reads before the failover')
      await resetStats(fx.lab)
      tell('failover')
      await fx.lab.failover()
      assert.equal((await fx.lab.waitForNewMaster()).address, to.address, told())
      tell(`new master ${to.address}`)
      let settled = false
      await until(
        () => settled,
        'reads on a replica of zone a that follows the new master',
        15_000,
        async () => {
          settled = false
          const { node, stream, status } = tr.slave
          if (status !== 'ready' || node?.role !== 'replica' || !zoneA.some((n) => n.address === node.address)) return
          const replica = fx.lab.node(node.address)!
          const info = parseInfo(String(await fx.lab.command(replica, 'INFO', 'replication')))
          if (info.master_port !== String(to.port) || info.master_link_status !== 'up') return
          // The sentinels' REPLICAOF closes the replica's client connections: the read side's
          // must be one the replica still lists after that, not one whose close is on its way.
          const clients = String(await fx.lab.command(replica, 'CLIENT', 'LIST', 'TYPE', 'normal'))
          settled = clients.includes(` addr=${stream.localAddress}:${stream.localPort} `)
        },
      )
      tell(`settled on ${tr.slave.node?.address}`)
      if (counted === 'settled') await resetStats(fx.lab)
      const after = load.progress('replica')
      await until(() => load.progress('replica') >= after + 50, '50 reads after the failover')
      const counts = await gets(fx.lab)
      tell(`reads per node: ${[...counts]}`)
      return { counts, story: told() }
    } catch (err) {
      throw new Error(`${(err as Error).message}${told()}`, { cause: err })
    } finally {
      const report = await load.stop()
      assert.deepEqual(report.failed, {}, `failed: ${JSON.stringify(report.failed)}${told()}`)
    }
  }

  it('reads come back to the zone after a failover that promotes a same-zone replica, and stay', async () => {
    const { a1, zoneA, zoneB } = nodes()
    const { counts, story } = await failoverTo(a1, open(), 'settled', zoneA)
    assert.equal(sum(counts, zoneB), 0, story)
  })

  it('with maxLinkDownMs, no read leaves the zone during such a failover (its replicas resync meanwhile)', async () => {
    // The master is now 127.0.0.12: here zone a is .13 and .14, and the failover promotes .13.
    const { master, a1, a2, b1, b2 } = nodes()
    const tr = fx.open({
      ...options,
      zones: { a: [a2.host, b1.host], b: [master.host, a1.host, b2.host] },
      maxLinkDownMs: 2000,
    })
    const { counts, story } = await failoverTo(a2, tr, 'all', [a2, b1])
    assert.equal(sum(counts, [master, a1, b2]), 0, story)
  })
})

describe("a node's own zone announcement", () => {
  it('wins over the map: a replica mapped to our zone that announces another is left for one in our zone', async () => {
    /** A replica that announces `zone` (HELLO and INFO server, as Valkey 8.1+ does; '' when unset). */
    const node = (host: string, zone: string) =>
      fakeServer(([command]) => {
        switch (command?.toUpperCase()) {
          case 'HELLO':
            return ['server', 'valkey', 'version', '8.1.0', 'proto', 2, 'role', 'replica', 'availability_zone', zone]
          case 'INFO':
            return `# Server\r\navailability_zone:${zone}\r\n# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n# Persistence\r\nloading:0\r\n`
          case 'GET':
            return host
          default:
            return 'OK'
        }
      }, host)
    // The map puts both in zone a; .21 says it is in b, .22 says nothing.
    const elsewhere = await node('127.0.0.21', 'b')
    const local = await node('127.0.0.22', '')
    const master = await fakeServer(() => 'OK', '127.0.0.23')
    const entry = (n: { host: string; port: number }) =>
      Object.entries({ ip: n.host, port: String(n.port), flags: 'slave', 'master-link-status': 'ok' }).flat()
    const sentinel = await fakeServer(([command, sub]) => {
      if (command?.toUpperCase() !== 'SENTINEL') return new Error('ERR unknown command')
      if (sub?.toUpperCase() === 'GET-MASTER-ADDR-BY-NAME') return [master.host, String(master.port)]
      if (sub?.toUpperCase() === 'REPLICAS') return [entry(elsewhere), entry(local)]
      return []
    })
    const tr = new TwiceRedis({
      name: 'mymaster',
      sentinels: [sentinel.address],
      clientZone: 'a',
      zones: { a: ['127.0.0.21', '127.0.0.22'] },
      // In address order: .21 is tried first.
      replicaSelection: 'round-robin',
      healthCheckIntervalMs: 0,
    })
    const rejected: TwiceRedisEvents['node-rejected'][0][] = []
    tr.on('node-rejected', (e) => rejected.push(e))
    try {
      for (let i = 0; i < 10; i++) {
        assert.equal(await tr.slave.get('k'), local.host)
        tr.slave.disconnect()
      }
      const gets = (n: typeof local) => n.received.filter(([c]) => c?.toUpperCase() === 'GET').length
      assert.equal(gets(elsewhere), 0)
      assert.equal(gets(local), 10)
      assert.deepEqual(
        rejected.map((e) => `${e.address} ${e.reason}`),
        [`${elsewhere.address} announces availability_zone b, not a, and a replica of a is eligible`],
      )
      const info = elsewhere.received.find(([c]) => c?.toUpperCase() === 'INFO')
      assert.ok(info?.includes('server'), `the ready check asks INFO ${info?.slice(1)}`)
      const { replicas, zones } = await tr.topology()
      assert.deepEqual(
        replicas.map((r) => [r.address, r.zone, r.zoneSource]),
        [
          [elsewhere.address, 'b', 'announced'],
          [local.address, 'a', 'map'],
        ],
      )
      assert.equal(zones?.read, undefined) // disconnected
    } finally {
      tr.disconnect() // the fake nodes never close on QUIT
      await tr.quit()
      await Promise.all([sentinel, elsewhere, local, master].map((s) => s.close()))
    }
  })
})
