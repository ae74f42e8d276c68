// OpenTelemetry's real ioredis instrumentation, ioredis' diagnostics channels and twiceredis' own,
// in a child process that loads them as their docs say (test/fixtures/otel.cjs).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { tracingChannel } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { inspect } from 'node:util'
import { withLab } from '../helpers/lab.js'

interface Phase {
  spans: { name: string; address: string; inRequest: boolean }[]
  channel: { command: string; address: string }[]
  batches: string[]
  nodes: { master: string; replica: string }
  topology: { masterName: string; side: string; address: string }[]
}

describe('tracing', () => {
  it('spans and ioredis channel contexts name the node that served each command, through a reconnect and a failover', () =>
    withLab(async (lab) => {
      const child = spawn(process.execPath, ['test/fixtures/otel.cjs'], {
        env: {
          ...process.env,
          LAB_MASTER_NAME: lab.masterName,
          LAB_SENTINELS: lab.sentinels.map((s) => s.address).join(','),
        },
      })
      let stderr = ''
      child.stderr.on('data', (d) => {
        stderr += d
      })
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
      const phase = async (line: string): Promise<Phase> => {
        child.stdin.write(`${line}\n`)
        const next = await lines.next()
        assert.ok(!next.done, stderr)
        return JSON.parse(next.value) as Phase
      }
      const sentinels = new Set(lab.sentinels.map((s) => s.address))
      const dataNodes = new Set(lab.dataNodes.map((n) => n.address))
      const check = (p: Phase, what: string) => {
        const expected = [
          { name: 'set', address: p.nodes.master },
          { name: 'get', address: p.nodes.replica },
        ]
        // By name: a GET sent first may finish first.
        const data = p.spans
          .filter((s) => s.name === 'set' || s.name === 'get')
          .sort((a, b) => b.name.localeCompare(a.name))
        assert.deepEqual(
          data.map(({ name, address }) => ({ name, address })),
          expected,
          `${what}: one span per command, on the node that served it`,
        )
        for (const span of data) assert.ok(span.inRequest, `${what}: ${span.name} in the request's trace`)
        const transaction = ['multi', 'incr', 'exec']
        for (const span of p.spans.filter((s) => transaction.includes(s.name))) {
          assert.equal(span.address, p.nodes.master, `${what}: MULTI on the master`)
          assert.ok(span.inRequest, `${what}: ${span.name} in the request's trace`)
        }
        // Sentinel traffic: spans of their own, named for the sentinel command, on a sentinel. (The
        // failover watch's subscription and polls run outside any request: no span.)
        for (const span of p.spans.filter((s) => !data.includes(s) && !transaction.includes(s.name))) {
          assert.ok(span.name === 'connect' || (span.name === 'SENTINEL' && sentinels.has(span.address)), inspect(span))
        }
        assert.deepEqual(p.batches, [p.nodes.master], `${what}: ioredis:batch`)
        assert.deepEqual(
          p.channel
            .filter((c) => c.command === 'set' || c.command === 'get')
            .sort((a, b) => b.command.localeCompare(a.command)),
          expected.map(({ name, address }) => ({ command: name, address })),
          `${what}: ioredis:command`,
        )
        // ioredis traces its own traffic too: handshakes on data nodes, SENTINEL (and the process'
        // failover watch, PSUBSCRIBE) on a sentinel.
        for (const c of p.channel.filter((c) => c.command !== 'set' && c.command !== 'get')) {
          const onSentinel = c.command === 'SENTINEL' || c.command === 'psubscribe'
          assert.ok((onSentinel ? sentinels : dataNodes).has(c.address), inspect(c))
        }
      }
      try {
        const first = await phase('first')
        check(first, 'first')
        assert.equal(first.nodes.master, lab.master.address)
        const published = first.topology.map((t) => `${t.masterName} ${t.side} ${t.address}`)
        assert.ok(published.includes(`${lab.masterName} master ${lab.master.address}`), 'twiceredis:resolved')
        assert.ok(published.includes(`${lab.masterName} replica ${first.nodes.replica}`), 'twiceredis:resolved')

        const moved = await phase('reconnect')
        check(moved, 'after a reconnect')
        assert.notEqual(moved.nodes.replica, first.nodes.replica, 'round-robin moves to the other replica')

        const queued = await phase('queued')
        check(queued, 'a command queued while the side connects')
        const closing = await phase('closing')
        check(closing, 'a command held while the side closes')

        await lab.kill(lab.master)
        const newMaster = await lab.waitForNewMaster()
        const failedOver = await phase('failover')
        check(failedOver, 'after a failover')
        assert.equal(failedOver.nodes.master, newMaster.address)
      } finally {
        child.stdin.end()
        await once(child, 'exit')
      }
    }))
})

describe('ioredis:connect', () => {
  it("traces the application's connects, one per connect of a side; twiceredis' sentinel connections on twiceredis:sentinel-connect", () =>
    withLab(async (lab, open) => {
      type Start = { channel: string; serverAddress: string; serverPort: number | undefined }
      const starts: Start[] = []
      const subscribe = (name: string) => {
        const subscriber = {
          start: (c: object) => void starts.push({ ...(c as Omit<Start, 'channel'>), channel: name }),
          end() {},
          asyncStart() {},
          asyncEnd() {},
          error() {},
        }
        tracingChannel(name).subscribe(subscriber)
        return () => tracingChannel(name).unsubscribe(subscriber)
      }
      const unsubscribe = [subscribe('ioredis:connect'), subscribe('twiceredis:sentinel-connect')]
      try {
        const tr = open({ lazyConnect: true })
        await tr.master.connect()
        await tr.master.ping()
        const sentinels = lab.sentinels.map((s) => s.address)
        const of = (name: string) => starts.filter((s) => s.channel === name)
        assert.equal(of('ioredis:connect').length, 1, inspect(starts))
        const sentinelConnects = of('twiceredis:sentinel-connect')
        assert.ok(sentinelConnects.length >= 1, inspect(starts))
        for (const s of sentinelConnects)
          assert.ok(sentinels.includes(`${s.serverAddress}:${s.serverPort}`), inspect(s))
      } finally {
        for (const u of unsubscribe) u()
      }
    }))
})
