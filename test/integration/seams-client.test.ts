import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { metrics } from '@opentelemetry/api'
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import { Redis } from 'ioredis'
import { cut, withLab } from '../helpers/lab.js'
import { settles, until } from '../helpers/load.js'

const index = fileURLToPath(new URL('../../src/index.ts', import.meta.url))

/**
 * Run `script` (an ES module body; `TwiceRedis` and `env` in scope) in a child process of its own,
 * for what is process-wide (unhandled rejections, garbage collection). Resolves with its output.
 */
async function inChild(
  script: string,
  env: Record<string, string>,
  { flags = [] as string[], said = (_out: string) => {} } = {},
): Promise<string> {
  const body = `const { TwiceRedis } = await import(${JSON.stringify(index)}); const env = process.env;\n${script}`
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', body], {
    env: { ...process.env, ...env },
  })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
    said(out)
  })
  child.stderr.on('data', (d) => {
    out += d
  })
  try {
    const code = await settles(new Promise((resolve) => child.once('exit', resolve)), 'the child process', 30_000)
    assert.equal(code, 0, out)
    return out
  } finally {
    child.kill('SIGKILL')
  }
}

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** How many `db.client.operation.duration` points were recorded for `operation`. */
async function durations(reader: TestReader, operation: string): Promise<number> {
  const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics }
  const found = resourceMetrics.scopeMetrics
    .flatMap((s) => s.metrics)
    .find((m) => m.descriptor.name === 'db.client.operation.duration')
  return (found?.dataPoints ?? [])
    .filter((p: DataPoint<unknown>) => p.attributes['db.operation.name'] === operation)
    .reduce((sum, p) => sum + ((p.value as Histogram).count ?? 0), 0)
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    (reply) => reply,
    (e: { code?: string; message?: string }) => e.code ?? e.message,
  )

/**
 * Where the write side's features meet (issue 27): the fence, transactions, quit(), disconnect().
 * Each test failed before its fix.
 */
describe('seams of the write side', () => {
  it('a fence released in batches: no member writes to the old master before its own release (0 lost)', async () => {
    await withLab(async (lab, open) => {
      // More write clients than the watch releases per turn (10): instances and their duplicate()s.
      const writers: Redis[] = []
      for (let i = 0; i < 30; i++) {
        const tr = open()
        const copy = tr.master.duplicate()
        writers.push(tr.master, copy)
      }
      try {
        await Promise.all(writers.map((w, i) => w.set(`seams:count:${i}`, '0')))
        const acked = writers.map(() => 0)
        let failed = 0
        const timer = setInterval(() => {
          writers.forEach((w, i) => {
            // Un-awaited, as an application firing writes: each acknowledged INCR must survive.
            w.incr(`seams:count:${i}`).then(
              () => acked[i]!++,
              () => failed++,
            )
          })
        }, 10)
        const old = lab.master
        let elected = old
        try {
          await new Promise((r) => setTimeout(r, 300))
          await lab.failover()
          elected = await lab.waitForNewMaster()
          await until(
            () =>
              writers.every((w) => (w as unknown as { node?: { address: string } }).node?.address === elected.address),
            'every write client on the new master',
          )
          await new Promise((r) => setTimeout(r, 300))
        } finally {
          clearInterval(timer)
        }
        // Every INCR sent is answered (or failed) before counting.
        await Promise.all(writers.map((w) => w.ping()))
        assert.notEqual(elected.address, old.address)
        const check = open()
        let lost = 0
        for (let i = 0; i < writers.length; i++) {
          const value = Number(await check.master.get(`seams:count:${i}`))
          if (value < acked[i]!) lost += acked[i]! - value
        }
        assert.equal(lost, 0, `acknowledged increments lost (${failed} failed)`)
      } finally {
        await Promise.all(
          writers
            .slice(1)
            .filter((_, i) => i % 2 === 0)
            .map((w) => w.quit()),
        )
      }
    })
  })

  it('a transaction lost with its connection: our own commands go, and once abandoned it ends with nothing of it applied', async () => {
    await withLab(async (lab, open) => {
      const tr = open({ healthCheckIntervalMs: 20 })
      await tr.master.del('seams:tx')
      const id = await tr.master.client('ID')
      assert.equal(await tr.master.multi({ pipeline: false }), 'OK')
      assert.equal(await tr.master.rpush('seams:tx', 'a'), 'QUEUED')
      const node = tr.master.node!
      // (monitor() opens a connection of its own.)
      const monitor = await new Redis({ port: node.port, host: node.host, lazyConnect: true }).monitor()
      const checks: string[] = []
      try {
        const watching = monitor
        watching.on('monitor', (_time: string, args: string[]) => {
          if (args.join(' ').toLowerCase() === 'info replication') checks.push(args.join(' '))
        })
        await cut(tr, id)
        // The rest of it, sent in one go: refused whole.
        const rest = [tr.master.rpush('seams:tx', 'b'), tr.master.rpush('seams:tx', 'c')].map(codeOf)
        assert.deepEqual(await Promise.all(rest), ['TRANSACTION_ABORTED', 'TRANSACTION_ABORTED'])
        // twiceredis' own health check is no command of the transaction: it runs on the new connection.
        await until(() => checks.length > 0, 'a health check on the new connection', 5000)
        // The application gave it up (no EXEC): what it sends later is its own again.
        await new Promise((r) => setTimeout(r, 10))
        assert.equal(await codeOf(tr.master.set('seams:after', '1')), 'OK')
        assert.deepEqual(await tr.master.lrange('seams:tx', 0, -1), [], 'nothing of the transaction applied')
        assert.equal(await codeOf(tr.master.exec()), 'ERR EXEC without MULTI')
        assert.equal(lab.master.address, node.address)
      } finally {
        monitor.disconnect()
      }
    })
  })

  it("the application's own rejection of a fenced command stays unhandled", async () => {
    await withLab(async (lab) => {
      const script = `
        const tr = new TwiceRedis({ name: env.LAB_MASTER_NAME, sentinels: env.LAB_SENTINELS.split(',') })
        const unhandled = []
        process.on('unhandledRejection', (e) => unhandled.push(e.code))
        await tr.master.set('seams:k', '1')
        tr.on('write-fence', () => {
          tr.master.set('seams:k', '2') // held by the fence, its rejection left unhandled
          tr.quit().then(() => setTimeout(() => { console.log('unhandled:' + unhandled.join(',')); process.exit(0) }, 100))
        })
        console.log('ready')
      `
      let asked = false
      const env = { LAB_MASTER_NAME: lab.masterName, LAB_SENTINELS: lab.sentinels.map((n) => n.address).join(',') }
      const output = await inChild(script, env, {
        // The child is connected: start the failover that fences it.
        said: (out) => {
          if (asked || !out.includes('ready')) return
          asked = true
          lab.failover().catch(() => {})
        },
      })
      assert.match(output, /unhandled:CLIENT_CLOSED/)
    })
  })

  it('quit() during a fence writes its QUIT at once (it was held, and quit() waited out connectTimeoutMs)', async () => {
    await withLab(async (lab, open) => {
      const tr = open({ connectTimeoutMs: 60_000 })
      await tr.master.set('seams:q', '1')
      const quit = new Promise<unknown>((resolve) => tr.once('write-fence', () => resolve(tr.quit())))
      await lab.failover()
      await settles(quit, 'quit() during a fence', 15_000)
    })
  })

  it('a held command that timed out is counted once when quit() comes during the fence', async () => {
    metrics.disable()
    const reader = new TestReader()
    const provider = new MeterProvider({ readers: [reader] })
    metrics.setGlobalMeterProvider(provider)
    try {
      await withLab(async (lab, open) => {
        const tr = open()
        await tr.master.set('seams:m', '0')
        tr.master.options.commandTimeout = 50 // connected: only the held SET may time out
        const timedOut = new Promise<string>((resolve) =>
          tr.once('write-fence', () => {
            tr.master.set('seams:m', '1').then(
              () => resolve('answered'),
              (e: Error) => {
                resolve(e.message)
                tr.quit().catch(() => {})
              },
            )
          }),
        )
        await lab.failover()
        assert.equal(await timedOut, 'Command timed out')
        assert.equal(await durations(reader, 'SET'), 2, 'the first SET, and the held one once')
      })
    } finally {
      await provider.shutdown()
      metrics.disable()
    }
  })

  it("a TwiceRedis with failoverDetection 'always' is collected after disconnect() or quit(), metrics on", async () => {
    await withLab(async (lab) => {
      const script = `
        const { metrics } = await import('@opentelemetry/api')
        const { MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics')
        class Reader extends MetricReader { async onForceFlush() {} async onShutdown() {} }
        metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new Reader()] }))
        const ended = (client) => new Promise((resolve) => client.status === 'end' ? resolve() : client.once('end', resolve))
        async function used(close) {
          const tr = new TwiceRedis({ name: env.LAB_MASTER_NAME, sentinels: env.LAB_SENTINELS.split(',') })
          await tr.master.set('seams:gc', '1')
          await tr.slave.get('seams:gc')
          await close(tr)
          return new WeakRef(tr)
        }
        const refs = {
          disconnect: await used(async (tr) => { tr.disconnect(); await Promise.all([ended(tr.master), ended(tr.slave)]) }),
          quit: await used((tr) => tr.quit()),
        }
        for (let i = 0; i < 10; i++) {
          await new Promise((r) => setTimeout(r, 20))
          globalThis.gc()
        }
        for (const [how, ref] of Object.entries(refs)) console.log(how + ':' + (ref.deref() ? 'alive' : 'collected'))
        process.exit(0)
      `
      const env = { LAB_MASTER_NAME: lab.masterName, LAB_SENTINELS: lab.sentinels.map((n) => n.address).join(',') }
      const output = await inChild(script, env, { flags: ['--expose-gc'] })
      assert.match(output, /disconnect:collected/)
      assert.match(output, /quit:collected/)
    })
  })

  it("a replica's +sdown moves the read side reading from it (not only one holding the watch)", async () => {
    await withLab(async (lab, open) => {
      // No health check: the sentinels' word alone must move it.
      const tr = open({ healthCheckIntervalMs: 0 })
      await tr.master.set('seams:sdown', '1') // the write side listens to the sentinels
      await tr.slave.get('seams:sdown')
      const from = tr.slave.node!
      assert.equal(from.role, 'replica')
      const replica = lab.node(from.address)!
      // The sentinels see it down; the client still reaches it.
      await lab.cutOffSentinels(replica)
      try {
        await until(
          () => tr.slave.node !== undefined && tr.slave.node.address !== from.address,
          'the read side off the replica flagged +sdown',
          15_000,
          async () => {
            await tr.slave.get('seams:sdown')
          },
        )
      } finally {
        await lab.restoreSentinels(replica)
      }
    })
  })

  it("an application's CLIENT command sent during connect waits for the role check, as any command", async () => {
    await withLab(async (lab, open) => {
      const node = lab.master
      const monitor = await new Redis({ port: node.port, host: node.host, lazyConnect: true }).monitor()
      try {
        const seen: string[] = []
        monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ').toLowerCase()))
        const tr = open()
        let app: Promise<unknown> | undefined
        tr.master.once('connect', () => {
          app = tr.master.client('SETNAME', 'seams-app')
        })
        await tr.master.ping()
        assert.equal(await app, 'OK')
        await tr.master.ping() // MONITOR has shown what came before
        const check = seen.findIndex((c) => c.startsWith('info replication persistence'))
        const mine = seen.indexOf('client setname seams-app')
        assert.ok(check >= 0 && mine > check, `written after the role check: ${seen.join(' | ')}`)
      } finally {
        monitor.disconnect()
      }
    })
  })

  it('writeToken() covers a write the write fence holds (README: every write sent on tr.master so far)', async () => {
    await withLab(async (lab, open) => {
      const tr = open({ consistency: 'session' })
      const reader = open()
      await tr.master.set('token:fenced', 'old')
      await reader.slave.get('token:fenced')
      let read: unknown
      const fenced = new Promise<void>((resolve) => {
        tr.once('write-fence', async () => {
          const write = codeOf(tr.master.set('token:fenced', 'new')) // held by the fence
          const token = await codeOf(tr.writeToken())
          reader.readAfter(String(token))
          read = await codeOf(reader.slave.get('token:fenced'))
          await write
          resolve()
        })
      })
      await lab.failover()
      await lab.waitForNewMaster()
      await settles(fenced, 'the write, the token and the read', 15_000)
      assert.equal(read, 'new')
    })
  })

  it('quit() answers what was sent before it while the client connects (plain ioredis does: QUIT waits behind it)', async () => {
    await withLab(async (lab, open) => {
      for (const how of ['tr.quit()', 'tr.master.quit()'] as const) {
        const tr = open()
        const sent = codeOf(tr.master.set(`quit:first:${how}`, 'sent before quit'))
        await (how === 'tr.quit()' ? tr.quit() : tr.master.quit())
        assert.equal(await sent, 'OK', how)
        assert.equal(await lab.command(lab.master, 'GET', `quit:first:${how}`), 'sent before quit', how)
        await assert.rejects(tr.master.get('k'), { code: 'CLIENT_CLOSED' })
      }
    })
  })

  it('quit() right after disconnect() answers a command sent between them', async () => {
    await withLab(async (_lab, open) => {
      const tr = open()
      await tr.master.ping()
      tr.disconnect()
      const sent = codeOf(tr.master.set('quit:after-disconnect', 'v'))
      await tr.quit()
      assert.equal(await sent, 'OK')
    })
  })

  it('quit() of a duplicate never connected, during a fence, answers what was sent on it before', async () => {
    await withLab(async (lab, open) => {
      const tr = open()
      await tr.master.set('quit:duplicate', 'old')
      let got: unknown
      const done = new Promise<void>((resolve) => {
        tr.once('write-fence', async () => {
          const copy = tr.master.duplicate()
          const sent = codeOf(copy.set('quit:duplicate', 'new'))
          await copy.quit()
          got = await sent
          resolve()
        })
      })
      await lab.failover()
      await settles(done, 'the write and quit()', 15_000)
      assert.equal(got, 'OK')
    })
  })
})
