import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InvalidOptionError } from '../../src/index.js'
import { normalize } from '../../src/options/normalize.js'
import { parseReplicas, type ReplicaState } from '../../src/protocol/sentinel-replies.js'
import { replicaProblem, reportReplicas, stalenessProblem } from '../../src/routing/replica-health.js'
import { selectReplica, zoneExitReason } from '../../src/routing/replica-selection.js'
import { OffsetHistory, stalenessMs } from '../../src/routing/staleness.js'
import { parseZones, zoneOf } from '../../src/routing/zone-book.js'

const base = { name: 'mymaster', sentinels: ['127.0.0.1:26379'] }

function rejects(config: Record<string, unknown>, option: string, message?: RegExp) {
  assert.throws(
    () => normalize({ ...base, ...config } as never),
    (err: unknown) =>
      err instanceof InvalidOptionError && err.option === option && (!message || message.test(err.message)),
  )
}

describe('zones', () => {
  const map = parseZones({
    a: ['10.0.1.0/24', '*.a.example'],
    b: ['10.0.2.0/24', '10.0.1.99', 'redis-7.example'],
  })

  it('map addresses, CIDR blocks and host names (the allowedNodes syntax) to zones', () => {
    assert.equal(map('10.0.1.5'), 'a')
    assert.equal(map('10.0.2.5'), 'b')
    assert.equal(map('redis-0.a.example'), 'a')
    assert.equal(map('REDIS-7.example'), 'b')
    assert.equal(map('10.0.3.1'), undefined)
  })

  it('the first zone that matches wins (object order)', () => assert.equal(map('10.0.1.99'), 'a'))

  it("a node's own announcement wins over the map; the map is asked by each host in turn", () => {
    assert.deepEqual(zoneOf('c', ['10.0.1.5'], map), { zone: 'c', source: 'announced' })
    assert.deepEqual(zoneOf(undefined, ['10.0.1.5'], map), { zone: 'a', source: 'map' })
    assert.deepEqual(zoneOf('', ['10.9.9.9', '10.0.2.1'], map), { zone: 'b', source: 'map' })
    assert.equal(zoneOf(undefined, ['10.9.9.9'], map), undefined)
    assert.equal(zoneOf(undefined, ['10.0.1.5'], undefined), undefined)
  })

  it('options: zones, clientZone and same-zone are checked, naming the bad entry', () => {
    rejects({ zones: ['10.0.0.0/8'] }, 'zones')
    rejects({ zones: {} }, 'zones')
    rejects({ zones: { a: [] } }, 'zones.a')
    rejects({ zones: { a: ['10.0.0.0/33'] } }, 'zones.a[0]')
    rejects({ clientZone: '' }, 'clientZone')
    rejects({ replicaSelection: 'same-zone' }, 'clientZone', /same-zone/)
    rejects({ replicaSelection: 'nearest' }, 'replicaSelection', /same-zone/)
    const o = normalize({ ...base, clientZone: 'a', replicaSelection: 'same-zone', zones: { a: ['10.0.0.0/8'] } })
    assert.equal(o.clientZone, 'a')
    assert.equal(o.zones?.('10.1.1.1'), 'a')
  })
})

describe('zone-aware selection', () => {
  const replicas = (...entries: [number, string, Record<string, string>?][]) =>
    parseReplicas(
      entries.map(([last, , fields]) =>
        Object.entries({
          ip: `10.0.0.${last}`,
          port: '6379',
          flags: 'slave',
          'master-link-status': 'ok',
          ...fields,
        }).flat(),
      ),
    )
  // 10.0.0.1-2 in zone a, 10.0.0.3-4 in zone b.
  const zones = parseZones({ a: ['10.0.0.1', '10.0.0.2'], b: ['10.0.0.3', '10.0.0.4'] })
  const lookup = (r: { host: string }) => zoneOf(undefined, [r.host], zones)
  const all = replicas([1, 'a'], [2, 'a'], [3, 'b'], [4, 'b'])
  const pick = (list: ReplicaState[], extra: Parameters<typeof selectReplica>[1] = {}, random = Math.random) =>
    selectReplica(list, { clientZone: 'a', zoneOf: lookup, random, ...extra })?.host

  it('only same-zone replicas while one is eligible, for every built-in policy', () => {
    for (const selection of ['same-zone', 'random', 'round-robin', 'lowest-latency'] as const) {
      for (let turn = 0; turn < 50; turn++) {
        const host = pick(all, { selection, turn })
        assert.ok(host === '10.0.0.1' || host === '10.0.0.2', `${selection} picked ${host}`)
      }
    }
  })

  it('another zone when none of the zone is eligible, and a zone replica that just failed only when nothing else will do', () => {
    const broken = replicas([1, 'a', { 'master-link-status': 'err' }], [2, 'a', { flags: 'slave,s_down' }], [3, 'b'])
    assert.equal(pick(broken, { avoid: new Set(['10.0.0.1:6379']) }), '10.0.0.3')
    assert.equal(
      pick(all, { avoid: new Set(['10.0.0.1:6379', '10.0.0.2:6379']) }, () => 0),
      '10.0.0.3',
    )
    const onlyAvoided = all.slice(0, 2)
    assert.equal(
      pick(onlyAvoided, { avoid: new Set(['10.0.0.1:6379', '10.0.0.2:6379']) }, () => 0),
      '10.0.0.1',
    )
  })

  it("before leaving the zone, one the sentinels doubt only for a moment is tried ('disconnected', its master link)", () => {
    const list = replicas([1, 'a', { flags: 'slave,disconnected' }], [2, 'a', { flags: 'slave,s_down' }], [3, 'b'])
    assert.equal(pick(list), '10.0.0.1')
    const resyncing = replicas([1, 'a', { 'master-link-status': 'err' }], [2, 'a', { flags: 'slave,o_down' }], [3, 'b'])
    assert.equal(pick(resyncing), '10.0.0.1')
    assert.equal(pick(resyncing, { tryDoubtful: false }), '10.0.0.3', 'a health check looks for healthy ones only')
    assert.equal(pick(list, { avoid: new Set(['10.0.0.1:6379']) }), '10.0.0.3', 'it failed: leave the zone')
    assert.equal(selectReplica(list, { zoneOf: lookup })?.host, '10.0.0.3', 'without clientZone it is not eligible')
  })

  it('a zone replica whose one failure was a closed connection gets a second try before the zone is left', () => {
    const avoid = new Set(['10.0.0.1:6379', '10.0.0.2:6379'])
    assert.equal(pick(all, { avoid, secondChance: new Set(['10.0.0.2:6379']) }), '10.0.0.2')
    assert.notEqual(pick(all, { avoid, secondChance: new Set() }), '10.0.0.2')
    assert.notEqual(pick(all, { avoid, secondChance: new Set(['10.0.0.2:6379']), tryDoubtful: false }), '10.0.0.2')
  })

  it('without clientZone, no preference', () => {
    const hosts = new Set(Array.from({ length: 200 }, () => selectReplica(all, { zoneOf: lookup })?.host))
    assert.equal(hosts.size, 4)
  })

  it("reports carry each replica's zone, and why the read side left the zone", () => {
    const list = replicas([1, 'a', { 'master-link-status': 'err' }], [2, 'a'], [3, 'b'])
    const reports = reportReplicas(list, {}, undefined, new Map(), lookup)
    assert.deepEqual(
      reports.map((r) => [r.zone, r.zoneSource]),
      [
        ['a', 'map'],
        ['a', 'map'],
        ['b', 'map'],
      ],
    )
    assert.equal(
      zoneExitReason(reports, 'a', new Set(['10.0.0.2:6379'])),
      'no healthy replica in zone a: 10.0.0.1:6379 master link err; 10.0.0.2:6379 failed a connect or a check in the last 5 s',
    )
    assert.equal(zoneExitReason(reports, 'c'), 'no replica is in zone c')
  })
})

describe('staleness estimate', () => {
  const at = (offset: number, t: number) => ({ offset, at: t })

  it('a replica at or past every sample up to its reading is 0 ms stale', () => {
    const samples = [at(100, 0), at(200, 1000), at(300, 2000)]
    assert.equal(stalenessMs(samples, 300, 2500), 0)
    // The master moved past it only after the replica was read: caught up when read.
    assert.equal(stalenessMs(samples, 200, 1500), 0)
  })

  it('behind: the time since the master was last seen at or below its offset (the stale side of the interval)', () => {
    const samples = [at(100, 0), at(200, 1000), at(300, 2000)]
    assert.equal(stalenessMs(samples, 150, 2500), 2500)
    assert.equal(stalenessMs(samples, 200, 2500), 1500)
    assert.equal(stalenessMs(samples, 250, 3000), 2000)
  })

  it('behind every sample: at least as stale as the oldest', () => {
    assert.equal(stalenessMs([at(100, 500), at(200, 1000)], 50, 1500), 1000)
  })

  it('nothing to compare with: unknown', () => assert.equal(stalenessMs([], 5, 10), undefined))

  it('an idle master (its offset moved only by pings the replica has) never makes a caught-up replica stale', () => {
    const h = new OffsetHistory(10_000)
    let offset = 1000
    // 30 s of 100 ms samples; a 14-byte ping every second, which the replica has within a ms.
    for (let t = 0; t <= 30_000; t += 100) {
      if (t % 1000 === 0) offset += 14
      h.add('m:1', offset, t, 'sampler')
      assert.equal(h.estimate(offset, t + 1), 0)
    }
    // Runs of equal offsets keep their first and last sample only.
    assert.ok(h.samples.length <= 2 * 11 + 2, `${h.samples.length} samples`)
  })

  it('a replica stuck at an offset grows stale with the time the master has been past it', () => {
    const h = new OffsetHistory(10_000)
    for (let t = 0; t <= 5000; t += 100) h.add('m:1', 1000 + t, t, 'sampler') // a write every 100 ms
    assert.equal(h.estimate(2000, 5000), 4000)
    assert.equal(h.estimate(6000, 5000), 0)
  })

  it('without a history named, a new master (by address) starts a new record; samples older than keepMs go but one; near samples merge', () => {
    const h = new OffsetHistory(1000)
    h.add('m:1', 500, 0, 'sampler')
    h.add('m:1', 600, 100, 'sampler')
    h.add('m:2', 10, 200, 'sampler')
    assert.deepEqual(h.samples, [at(10, 200)])
    for (let t = 300; t <= 3000; t += 100) h.add('m:2', t, t, 'sampler')
    assert.equal(h.samples[0]!.at, 1900, 'one sample older than keepMs stays (it dates a replica behind the rest)')
    h.add('m:2', 3005, 3003, 'sampler')
    assert.deepEqual(h.samples.at(-1), at(3005, 3003))
    assert.equal(h.samples.at(-2)!.at, 2900)
  })

  it('a sample from the past (the sentinels cache) goes where it belongs', () => {
    const h = new OffsetHistory(10_000)
    h.add('m:1', 100, 1000, 'sampler')
    h.add('m:1', 300, 3000, 'sampler')
    h.add('m:1', 200, 2000, 'sampler')
    assert.deepEqual(
      h.samples.map((s) => s.at),
      [1000, 2000, 3000],
    )
  })

  it('histories: a master on a new replication ID starts a new history; a replica on another history is unboundedly stale', () => {
    const [h1, h2, h3] = ['1', '2', '3'].map((c) => c.repeat(40)) as [string, string, string]
    const h = new OffsetHistory(10_000)
    h.add('m:1', 100, 1000, 'sampler', { replid: h1 })
    h.add('m:1', 200, 2000, 'sampler', { replid: h1 })
    // The same address, another history (REPLICAOF NO ONE, a pod restarted empty behind the name).
    h.add('m:1', 50, 3000, 'sampler', { replid: h3 })
    assert.deepEqual(h.samples, [at(50, 3000)])
    h.add('m:1', 60, 3100, 'sentinels') // names no history: the same one
    assert.equal(h.samples.length, 2)
    assert.equal(h.estimate(60, 3200, { history: { replid: h3 } }), 0)
    assert.equal(
      h.estimate(900, 3200, { history: { replid: h1 } }),
      Number.POSITIVE_INFINITY,
      'the old history, whatever its offset',
    )
    assert.equal(h.estimate(10, 3200), 3200 - 3000, 'no history known of the replica: offsets alone')
    // After a failover: the master continued h1 up to 500; a replica still on h1 below the switch compares.
    const f = new OffsetHistory(10_000)
    f.add('n:1', 600, 1000, 'sampler', { replid: h2, replid2: h1, switchAt: 501 })
    f.add('n:1', 700, 2000, 'sampler', { replid: h2, replid2: h1, switchAt: 501 })
    assert.equal(f.estimate(450, 2100, { history: { replid: h1 } }), 2100 - 1000)
    assert.equal(
      f.estimate(650, 2100, { history: { replid: h1 } }),
      Number.POSITIVE_INFINITY,
      'past the switch on the old history',
    )
    assert.equal(f.estimate(700, 2100, { history: { replid: h2, replid2: h1, switchAt: 501 } }), 0)
    assert.match(stalenessProblem(Number.POSITIVE_INFINITY, 2000) ?? '', /another replication history/)
  })

  it('a gap in the record (a process that just started, or came back from idle): the link decides', () => {
    const gap = { gapMs: 400 }
    // The only sample, 5 s before the replica was read, shows it caught up then; nothing since.
    const old = [at(100, 0)]
    assert.equal(stalenessMs(old, 100, 5000, { ...gap, linkDownMs: 4000 }), 4000, 'its link down for 4 s')
    assert.equal(stalenessMs(old, 100, 5000, { ...gap, linkDownMs: 0 }), 0, 'its link up')
    assert.equal(stalenessMs(old, 100, 300, { ...gap, linkDownMs: 4000 }), 0, 'a sample within the gap proves it')
    // Samples again after the gap, all past it: the link narrows the interval the gap leaves.
    const after = [at(100, 0), at(200, 4800)]
    assert.equal(stalenessMs(after, 100, 5000, { ...gap, linkDownMs: 4000 }), 4000)
    assert.equal(stalenessMs(after, 100, 5000, { ...gap, linkDownMs: 0 }), 200, 'link up: the lower bound')
    assert.equal(
      stalenessMs(after, 100, 5000, { ...gap, linkDownMs: 9000 }),
      5000,
      'never past the last caught-up sample',
    )
    // Without a gap the link changes nothing: the stale end of one interval.
    const live = [at(100, 4600), at(200, 4800)]
    assert.equal(stalenessMs(live, 100, 5000, { ...gap, linkDownMs: 0 }), 400)
    // Behind every sample: at least as stale as the oldest, or as long as its link has been down.
    assert.equal(stalenessMs([at(200, 4800)], 100, 5000, { ...gap, linkDownMs: 3000 }), 3000)
    assert.equal(stalenessMs([at(200, 4800)], 100, 5000, { ...gap, linkDownMs: 0 }), 200)
    // No sample at all: its link, or unknown.
    assert.equal(stalenessMs([], 100, 5000, { linkDownMs: 3000 }), 3000)
    assert.equal(stalenessMs([], 100, 5000, { linkDownMs: 0 }), undefined)
  })

  it('while the sampler asks, a master that does not answer (dead) leaves caught-up replicas fresh', () => {
    const h = new OffsetHistory(2400, 400)
    h.watching(0)
    for (let t = 0; t <= 1000; t += 200) h.add('m:1', 100 + t, t, 'sampler')
    // The master died at 1000; the replica that had everything, its link down since, read at 5000.
    assert.equal(h.estimate(1100, 5000, { linkDownMs: 4000 }), 0)
    h.watching(undefined) // the sampler stopped (the read side went idle): a gap
    assert.equal(h.estimate(1100, 5000, { linkDownMs: 4000 }), 4000)
  })

  it('a failover keeps the record: the new master continued its history (replid2), less the writes past the switch', () => {
    const [o, n] = ['1', '2'].map((c) => c.repeat(40)) as [string, string]
    const h = new OffsetHistory(10_000)
    for (let t = 0; t <= 2000; t += 200) h.add('m:1', 1000 + t, t, 'sampler', { replid: o })
    // The old master wrote up to 3000; the replica promoted had up to 2800 (switchAt: its offset + 1).
    const continued = { replid: n, replid2: o, switchAt: 2801 }
    h.add('m:2', 2800, 4000, 'sampler', continued)
    assert.deepEqual(
      h.samples.map((s) => s.offset),
      [1000, 1200, 1400, 1600, 1800, 2000, 2200, 2400, 2600, 2800, 2800],
    )
    // A replica stuck at 1500 since 500 ms: as stale as before the failover, not "new".
    assert.equal(h.estimate(1500, 4100, { linkDownMs: 3600 }), 4100 - 400)
    h.add('m:1', 3000, 4100, 'sampler', { replid: o }) // the old master, still answering: not this record
    h.add('m:1', 3000, 4150, 'sentinels') // another node naming no history: not until its INFO says
    assert.equal(h.samples.at(-1)!.offset, 2800)
    h.add('m:2', 2900, 4200, 'session') // the new master's ROLE: the same record
    assert.equal(h.samples.at(-1)!.offset, 2900)
  })

  it('gates: a replica past maxStalenessMs is not eligible, with the estimate in the reason', () => {
    const [r] = parseReplicas([
      Object.entries({ ip: '10.0.0.1', port: '1', flags: 'slave', 'master-link-status': 'ok' }).flat(),
    ])
    assert.equal(
      replicaProblem(r!, { maxStalenessMs: 2000, staleness: () => 2500 }),
      'staleness ~2500 ms > maxStalenessMs 2000',
    )
    assert.equal(replicaProblem(r!, { maxStalenessMs: 2000, staleness: () => 2000 }), undefined)
    assert.equal(replicaProblem(r!, { maxStalenessMs: 2000, staleness: () => undefined }), undefined)
    assert.equal(stalenessProblem(10, undefined), undefined)
    const [report] = reportReplicas([r!], { maxStalenessMs: 2000, staleness: () => 2500 })
    assert.equal(report!.stalenessMs, 2500)
  })

  it('options: at least 2 × healthCheckIntervalMs, and only with the health check on', () => {
    rejects({ maxStalenessMs: 1500 }, 'maxStalenessMs', /2000 ms/)
    rejects({ maxStalenessMs: 1000, healthCheckIntervalMs: 0 }, 'maxStalenessMs', /health check/)
    rejects({ maxStalenessMs: -1 }, 'maxStalenessMs')
    assert.equal(normalize({ ...base, maxStalenessMs: 200, healthCheckIntervalMs: 100 }).maxStalenessMs, 200)
  })
})
