// OpenTelemetry metrics against the lab, read with the SDK's own reader (collect on demand): every
// value asserted, not only names. Each test registers a MeterProvider of its own.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { metrics } from '@opentelemetry/api'
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import type { TwiceRedis, TwiceRedisEvents } from '../../src/index.js'
import { withLab } from '../helpers/lab.js'
import { startWriters } from '../helpers/writers.js'

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

type Attributes = Record<string, unknown>
type Point = { attributes: Attributes; value: unknown }

/** A MeterProvider registered for one test; `read(name)` collects now and returns that metric's points. */
async function withMeter(test: (read: (name: string) => Promise<Point[]>) => Promise<void>): Promise<void> {
  metrics.disable()
  const reader = new TestReader()
  const provider = new MeterProvider({ readers: [reader] })
  metrics.setGlobalMeterProvider(provider)
  const read = async (name: string) => {
    const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics }
    const found = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)
    return (found?.dataPoints ?? []).map((p: DataPoint<unknown>) => ({ attributes: p.attributes, value: p.value }))
  }
  try {
    await test(read)
  } finally {
    await provider.shutdown()
    metrics.disable()
  }
}

const count = (p: Point) => (p.value as Histogram).count ?? (p.value as number)
const total = (points: Point[], match: Attributes = {}) =>
  points
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + count(p), 0)
const hostPort = (address: string) => {
  const i = address.lastIndexOf(':')
  return { 'server.address': address.slice(0, i), 'server.port': Number(address.slice(i + 1)) }
}

describe('metrics', () => {
  it('the CommonJS build loads nothing of OpenTelemetry without a MeterProvider, and records with one', () =>
    withLab(async (lab) => {
      const { stdout } = await promisify(execFile)(process.execPath, ['test/fixtures/metrics.cjs'], {
        env: {
          ...process.env,
          LAB_MASTER_NAME: lab.masterName,
          LAB_SENTINELS: lab.sentinels.map((s) => s.address).join(','),
        },
        timeout: 30_000,
      })
      const { before, commands } = JSON.parse(stdout) as { before: string[]; commands: string[] }
      assert.deepEqual(before, [], 'loaded without a MeterProvider')
      assert.deepEqual(commands.sort(), ['GET 1', 'SET 1'])
    }))

  // The metrics started measuring once the API's dynamic import settled: a connect quicker than the
  // import (a loaded machine) left the first commands unmeasured. This test made the one below flaky.
  // The fixture runs with Node's flags (`--import tsx`, a module resolve hook): under Deno,
  // process.execPath is deno, which takes neither (the CLI tests are left out of its leg alike).
  const deno = 'Deno' in globalThis ? "Deno: the fixture needs Node's --import and resolve hooks" : false
  it('commands sent while the OpenTelemetry API still loads are measured all the same', { skip: deno }, () =>
    withLab(async (lab) => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'test/fixtures/slow-otel.mjs'],
        {
          env: {
            ...process.env,
            LAB_MASTER_NAME: lab.masterName,
            LAB_SENTINELS: lab.sentinels.map((s) => s.address).join(','),
          },
          timeout: 30_000,
        },
      )
      assert.deepEqual(JSON.parse(stdout), { sets: 3 })
    }),
  )

  it('db.client.operation.duration: one point per command sent, on the node that served it, with the error type', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        const tr = open()
        for (let i = 0; i < 3; i++) await tr.master.set('m:k', String(i))
        await tr.master.wait(2, 1000)
        for (let i = 0; i < 2; i++) await tr.slave.get('m:k')
        const pipeline = await tr.slave.pipeline().get('m:k').get('m:k').exec()
        assert.equal(pipeline?.length, 2)
        await assert.rejects(tr.master.lpush('m:k', 'x'), /WRONGTYPE/)
        const points = await read('db.client.operation.duration')
        const master = {
          ...hostPort(lab.master.address),
          'twiceredis.side': 'master',
          'twiceredis.node.role': 'master',
        }
        const replica = { ...hostPort(tr.slave.node!.address), 'twiceredis.side': 'replica' }
        const common = { 'db.system.name': 'redis', 'db.namespace': '0' }
        assert.equal(total(points, { ...common, ...master, 'db.operation.name': 'SET' }), 3)
        assert.equal(total(points, { ...common, ...master, 'db.operation.name': 'WAIT' }), 1)
        assert.equal(
          total(points, { ...common, ...replica, 'db.operation.name': 'GET', 'twiceredis.node.role': 'replica' }),
          4,
        )
        assert.equal(total(points, { ...master, 'db.operation.name': 'LPUSH', 'error.type': 'WRONGTYPE' }), 1)
        // Nothing else: neither ioredis' handshake, nor the ready check, nor the health checks.
        assert.equal(total(points), 3 + 1 + 4 + 1)
        assert.ok(
          points.every(
            (p) => (p.attributes['error.type'] === undefined) === (p.attributes['db.operation.name'] !== 'LPUSH'),
          ),
        )
      }),
    ))

  it("`metrics: 'without-commands'` records no operation durations but counts reads; `metrics: false` nothing", () =>
    withMeter((read) =>
      withLab(async (_lab, open) => {
        const some = open({ metrics: 'without-commands' })
        const none = open({ metrics: false })
        for (const tr of [some, none]) {
          await tr.master.set('m:o', 'v')
          await tr.slave.get('m:o')
        }
        assert.equal(total(await read('db.client.operation.duration')), 0)
        assert.equal(total(await read('twiceredis.reads')), 1)
        assert.equal(total(await read('db.client.connection.create_time')), 2, 'one per side of one instance')
      }),
    ))

  it('connections: count and create time per side; reads by where served match the read-from-master events', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        // (maxLinkDownMs: the health check keeps the read side on the replica whose link breaks below.)
        const tr = open({ consistency: 'session', consistencyTimeoutMs: 30, maxLinkDownMs: 60_000 })
        const moved: TwiceRedisEvents['read-from-master'][0][] = []
        tr.on('read-from-master', (e) => moved.push(e))
        await tr.master.set('m:r', 'v')
        await tr.master.wait(2, 1000)
        for (let i = 0; i < 3; i++) await tr.slave.get('m:r')
        const connections = await read('db.client.connection.count')
        for (const [side, client] of [
          ['master', tr.master],
          ['replica', tr.slave],
        ] as const) {
          const attributes = { 'twiceredis.side': side, ...hostPort(client.node!.address) }
          assert.equal(total(connections, attributes), 1, `${side}: one connection`)
          assert.equal(total(await read('db.client.connection.create_time'), { 'twiceredis.side': side }), 1)
        }
        assert.equal(total(await read('db.client.connection.pending_requests')), 0)
        // Every replica's link broken: each read after a write waits out the bound and goes to the master.
        for (const r of lab.replicas) await lab.breakReplicaLink(r, { wait: false })
        for (let i = 0; i < 4; i++) {
          await tr.master.set('m:r', `v${i}`)
          assert.equal(await tr.slave.get('m:r'), `v${i}`)
        }
        const reads = await read('twiceredis.reads')
        // (A read before the token may have gone to the master too, on a slow machine.)
        assert.ok(moved.length >= 4, `${moved.length} reads moved`)
        assert.equal(total(reads, { 'twiceredis.served_by': 'master', 'twiceredis.reason': 'freshness' }), moved.length)
        assert.equal(total(reads, { 'twiceredis.served_by': 'replica' }), 7 - moved.length)
        assert.equal(total(reads, { 'twiceredis.reason': 'fallback' }), 0)
        const moves = await read('db.client.operation.duration')
        assert.equal(
          total(moves, {
            'db.operation.name': 'GET',
            'twiceredis.node.role': 'master',
            ...hostPort(lab.master.address),
          }),
          moved.length,
        )

        // No replica chosen: reads fall back to the master.
        const fallback = open({ replicaSelection: () => undefined })
        await fallback.slave.get('m:r')
        await fallback.slave.get('m:r')
        assert.equal(
          total(await read('twiceredis.reads'), { 'twiceredis.served_by': 'master', 'twiceredis.reason': 'fallback' }),
          2,
        )
      }),
    ))

  it('the client cache: requests by result and flushes by reason, as topology().cache and the events say', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        const tr = open({ clientCache: true })
        const flushed: string[] = []
        tr.on('cache-flushed', ({ reason }) => flushed.push(reason))
        await tr.master.set('m:c', 'v')
        await tr.master.wait(2, 1000)
        for (let i = 0; i < 50 && ((await tr.topology()).cache?.hits ?? 0) < 3; i++) await tr.slave.get('m:c')
        await tr.master.flushall()
        await lab.waitFor(5000, 'the flush', async () => flushed.length > 0 || undefined)
        const cache = (await tr.topology()).cache
        assert.ok(cache && cache.hits >= 3)
        const requests = await read('twiceredis.cache.requests')
        assert.equal(total(requests, { 'twiceredis.result': 'hit' }), cache.hits)
        assert.equal(total(requests, { 'twiceredis.result': 'miss' }), cache.misses)
        const flushes = await read('twiceredis.cache.flushes')
        assert.deepEqual(flushed, ['server-flush'])
        assert.equal(total(flushes, { 'twiceredis.reason': 'server-flush' }), 1)
        assert.equal(total(flushes), 1)
      }),
    ))

  it('sentinel queries by outcome: answered, the name unknown, refused', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        const tr = open()
        await tr.master.ping()
        const answered = (await read('twiceredis.sentinel.queries')).filter(
          (p) => p.attributes['twiceredis.outcome'] === 'answered',
        )
        assert.equal(total(answered), 1, 'one discovery, answered by the first sentinel asked')
        const sentinels = new Set(lab.sentinels.map((s) => s.address))
        assert.ok(
          sentinels.has(`${answered[0]!.attributes['server.address']}:${answered[0]!.attributes['server.port']}`),
        )

        const { TwiceRedis } = await import('../../src/index.js')
        const unknown = new TwiceRedis('no-such-master', lab.sentinelAddresses)
        await assert.rejects(unknown.master.ping(), { code: 'MASTER_NOT_FOUND' })
        await unknown.quit()
        assert.equal(total(await read('twiceredis.sentinel.queries'), { 'twiceredis.outcome': 'unknown-master' }), 3)

        const dead = await closedPort()
        const refused = new TwiceRedis(lab.masterName, [['127.0.0.1', dead]])
        await assert.rejects(refused.master.ping(), { code: 'NO_SENTINEL_REACHABLE' })
        await refused.quit()
        const points = await read('twiceredis.sentinel.queries')
        assert.equal(total(points, { 'twiceredis.outcome': 'refused', 'server.port': dead }), 1)
      }),
    ))

  it('a replica whose link breaks: its lag gauge rises, the node is rejected for its link', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        const tr = open({ healthCheckIntervalMs: 50 })
        await tr.master.set('m:lag', 'x')
        await tr.master.wait(2, 1000)
        await tr.slave.get('m:lag')
        const address = tr.slave.node!.address
        const replica = lab.node(address)!
        const lagOf = async () => {
          const points = await read('twiceredis.replica.lag')
          return points.find((p) => `${p.attributes['server.address']}:${p.attributes['server.port']}` === address)
            ?.value as number | undefined
        }
        await waitFor(async () => (await lagOf()) === 0, 'lag 0 while the link is up')
        const rejected: string[] = []
        tr.on('node-rejected', (e) => rejected.push(e.reason))
        await lab.breakReplicaLink(replica)
        try {
          await waitFor(async () => tr.slave.node?.address !== address, 'the read side leaves the replica')
          await tr.master.set('m:lag', 'y'.repeat(1000))
          const first = await waitFor(async () => ((await lagOf()) ?? 0) > 0 && (await lagOf()), 'lag above 0')
          await tr.master.set('m:lag', 'z'.repeat(5000))
          await waitFor(async () => ((await lagOf()) ?? 0) >= first + 5000, 'lag rises by what was written')
          const down = (await read('twiceredis.replica.link_down')).find(
            (p) => `${p.attributes['server.address']}:${p.attributes['server.port']}` === address,
          )
          assert.ok(down && (down.value as number) >= 0)
          const byLink = await read('twiceredis.node.rejected')
          assert.equal(
            total(byLink, { 'twiceredis.reason': 'link', 'twiceredis.side': 'replica', ...hostPort(address) }),
            rejected.filter((r) => /master link/.test(r)).length,
          )
          assert.ok(rejected.length > 0)
        } finally {
          await lab.restoreReplicaLink(replica)
        }
      }),
    ))

  it('a replica tolerated with its link down (maxLinkDownMs): link-down time and lag rise while the read side stays on it', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        const tr = open({ healthCheckIntervalMs: 50, maxLinkDownMs: 60_000 })
        await tr.master.set('m:down', 'x')
        await tr.master.wait(2, 1000)
        await tr.slave.get('m:down')
        const address = tr.slave.node!.address
        const of = async (name: string) =>
          (await read(name)).find((p) => `${p.attributes['server.address']}:${p.attributes['server.port']}` === address)
            ?.value as number | undefined
        await lab.breakReplicaLink(lab.node(address)!, { wait: false })
        try {
          await tr.master.set('m:down', 'y'.repeat(2000))
          const lag = await waitFor(
            async () => ((await of('twiceredis.replica.lag')) ?? 0) >= 2000 && (await of('twiceredis.replica.lag')),
            'lag',
          )
          await waitFor(async () => ((await of('twiceredis.replica.link_down')) ?? 0) >= 1000, 'link down 1 s')
          await waitFor(async () => ((await of('twiceredis.replica.link_down')) ?? 0) >= 2000, 'link down 2 s')
          assert.equal(tr.slave.node?.address, address, 'the read side stayed')
          assert.ok(((await of('twiceredis.replica.lag')) ?? 0) >= lag)
        } finally {
          await lab.restoreReplicaLink(lab.node(address)!)
        }
      }),
    ))

  it('write unavailability through a master SIGKILL agrees with what the writer measured', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        const tr: TwiceRedis = open({ redisOptions: { maxRetriesPerRequest: null } })
        await tr.master.set('m:w', '0')
        const old = lab.master
        const writes: { start: number; end: number; node: string | undefined }[] = []
        let stop = false
        const writer = (async () => {
          for (let i = 1; !stop; i++) {
            const start = performance.now()
            await tr.master.set('m:w', String(i))
            writes.push({ start, end: performance.now(), node: tr.master.node?.address })
            await new Promise((r) => setTimeout(r, 5))
          }
        })()
        await new Promise((r) => setTimeout(r, 50))
        await lab.kill(old)
        const master = await lab.waitForNewMaster()
        await waitFor(async () => writes.some((w) => w.node === master.address), 'a write on the new master')
        stop = true
        await writer
        // The writer's own figure: the first write acknowledged by the new master, from its start.
        const first = writes.find((w) => w.node === master.address)!
        const measured = first.end - first.start
        const points = await read('twiceredis.write.unavailable')
        assert.equal(points.length, 1)
        const h = points[0]!.value as Histogram
        assert.equal(h.count, 1, 'one outage')
        assert.ok(Math.abs(h.sum! - measured) <= 50, `metric ${h.sum} ms, writer ${measured} ms`)
        assert.deepEqual(points[0]!.attributes, {
          'db.namespace': lab.masterName,
          ...hostPort(master.address),
          'twiceredis.master_changed': true,
        })
      }),
    ))
  it('the write fence through SENTINEL FAILOVER: its duration and held commands as the write-unfence event says, the unavailability as the writers saw it', () =>
    withMeter((read) =>
      withLab(async (lab, open) => {
        const tr = open()
        await tr.master.set('m:f', 0)
        const unfenced: TwiceRedisEvents['write-unfence'][0][] = []
        tr.on('write-unfence', (e) => unfenced.push(e))
        const writers = startWriters(tr.master, 'm:f')
        await new Promise((r) => setTimeout(r, 100))
        await lab.failover()
        const master = await lab.waitForNewMaster()
        await waitFor(async () => unfenced.length > 0, 'write-unfence')
        await new Promise((r) => setTimeout(r, 100))
        const report = await writers.stop()
        assert.deepEqual(report.failed, {})
        assert.equal(unfenced.length, 1)
        const [event] = unfenced as [TwiceRedisEvents['write-unfence'][0]]
        const [duration] = await read('twiceredis.write.fence.duration')
        assert.ok(duration)
        assert.deepEqual(duration.attributes, { 'twiceredis.reason': event.reason })
        assert.equal((duration.value as Histogram).count, 1)
        assert.equal((duration.value as Histogram).sum, event.durationMs)
        assert.equal(
          total(await read('twiceredis.write.fence.held'), { 'twiceredis.reason': event.reason }),
          event.held,
        )
        assert.ok(event.held > 0)
        // The first write held waited longest: from its start to its acknowledgement by the new master.
        const [unavailable] = await read('twiceredis.write.unavailable')
        const h = unavailable!.value as Histogram
        assert.equal(h.count, 1, 'one outage')
        assert.ok(Math.abs(h.sum! - report.longestMs) <= 50, `metric ${h.sum} ms, writers ${report.longestMs} ms`)
        assert.equal(unavailable!.attributes['twiceredis.master_changed'], true)
        assert.equal(unavailable!.attributes['server.port'], master.port)
      }),
    ))
})

async function waitFor<T>(probe: () => Promise<T | false | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== false && value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await new Promise((r) => server.close(r))
  return port
}
