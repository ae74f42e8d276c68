// Races found by reading the client closely (issue 15), each reproduced against a real lab.
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { TwiceRedis, type TwiceRedisEvents } from '../../src/index.js'
import { forwarder } from '../helpers/forwarder.js'
import { sentinelConnectionsReceived, withLab } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

type Rejection = TwiceRedisEvents['node-rejected'][0]

/** Ports nobody listens on (taken, then released). */
async function deadPorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const server = createServer()
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return server
    }),
  )
  const ports = servers.map((s) => (s.address() as { port: number }).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

describe('races in the client lifecycle', () => {
  it("a health check resent after a reconnect is not judged against the old node's role", () =>
    withLab(
      async (lab, open) => {
        const [replica] = lab.replicas
        const tr = open({ connectTimeoutMs: 1000, healthCheckIntervalMs: 200 })
        const rejected: Rejection[] = []
        tr.on('node-rejected', (r) => rejected.push(r))
        await lab.breakReplicaLink(replica!)
        await tr.slave.ping()
        assert.equal(tr.slave.node?.role, 'master', 'reads fall back to the master')
        await lab.restoreReplicaLink(replica!)
        // The master hangs: the health check's INFO gets no answer, the connection is dropped,
        // the read side reaches the healthy replica, and ioredis resends the unanswered INFO there.
        lab.pause(lab.master)
        try {
          await until(() => tr.slave.node?.address === replica!.address && tr.slave.status === 'ready', 'replica')
          await sleep(600) // three more health checks on the replica
          assert.equal(tr.slave.node?.address, replica!.address)
          assert.deepEqual(
            rejected.filter((r) => /reports role slave/.test(r.reason)),
            [],
            'the replica was judged as if it were the master',
          )
        } finally {
          lab.resume(lab.master)
        }
      },
      { replicas: 1, downAfterMs: 60_000, replTimeoutSec: 60 },
    ))

  it('a health check never lands inside a transaction sent command by command, on either side', () =>
    withLab(async (lab, open) => {
      const tr = open({ healthCheckIntervalMs: 20 })
      const rejected: Rejection[] = []
      tr.on('node-rejected', (r) => rejected.push(r))
      await tr.master.set('k', 'v')
      await lab.waitForReplication()
      for (const client of [tr.master, tr.slave]) {
        const write = client === tr.master
        assert.equal(await client.multi({ pipeline: false }), 'OK')
        assert.equal(await (write ? client.incr('n') : client.get('k')), 'QUEUED')
        await sleep(100) // five health-check periods with the transaction open
        assert.equal(await client.call('ECHO', 'last'), 'QUEUED')
        assert.deepEqual(
          await client.exec(),
          [
            [null, write ? 1 : 'v'],
            [null, 'last'],
          ],
          `${client.side} side`,
        )
      }
      assert.deepEqual(rejected, [])
    }))

  it('disconnect() cancels the background retry of a client whose sentinels are gone', () =>
    withLab(async (lab, open) => {
      const tr = open({ maxRetryDelayMs: 100 })
      await tr.master.ping()
      await Promise.all(lab.sentinels.map((s) => lab.kill(s)))
      await sleep(300) // past the age of a sentinel answer a retry may reuse
      let ended = false
      tr.master.once('end', () => {
        ended = true
      })
      await lab.command(lab.master, 'CLIENT', 'KILL', 'TYPE', 'normal')
      await until(() => ended, 'the reconnect to find no sentinel') // retrying in the background now
      tr.master.disconnect()
      let attempts = 0
      tr.master.on('connecting', () => attempts++)
      await sleep(800)
      assert.equal(attempts, 0, 'a retry ran after disconnect()')
      assert.equal(tr.master.status, 'end')
    }))

  it('disconnect() while the connector waits on the sentinels does not turn the next outage into a close', () =>
    withLab(async (lab, open) => {
      const tr = open({ sentinelTimeoutMs: 300 })
      for (const s of lab.sentinels) lab.pause(s)
      try {
        const first = tr.master.ping().catch((e: unknown) => e)
        await until(() => tr.master.status === 'connecting', 'connecting')
        tr.master.disconnect()
        await first
      } finally {
        for (const s of lab.sentinels) lab.resume(s)
      }
      await tr.master.ping()
      const events: string[] = []
      for (const e of ['reconnecting', 'end'] as const) tr.master.once(e, () => events.push(e))
      await lab.command(lab.master, 'CLIENT', 'KILL', 'TYPE', 'normal')
      await until(() => events.length > 0, 'reconnecting or end')
      assert.equal(events[0], 'reconnecting', 'the outage was treated as a manual close')
      assert.equal(await tr.master.ping(), 'PONG')
    }))

  it('quit() on a side that is still connecting resolves once the client has ended', () =>
    withLab(async (lab, open) => {
      const tr = open({ sentinelTimeoutMs: 300 })
      for (const s of lab.sentinels) lab.pause(s)
      try {
        tr.master.ping().catch(() => {})
        await until(() => tr.master.status === 'connecting', 'connecting')
        await tr.master.quit()
        assert.equal(tr.master.status, 'end')
      } finally {
        for (const s of lab.sentinels) lab.resume(s)
      }
    }))

  it('quit() right after disconnect() resolves, and a command held in between is answered first', () =>
    withLab(async (_lab, open) => {
      const tr = open({ healthCheckIntervalMs: 0 })
      await tr.master.set('k', 'v')
      tr.disconnect() // the socket is still closing when quit() comes
      const held = tr.master.get('k') // held for the next connection: quit() lets it go first (as ioredis' QUIT waits behind it)
      await tr.quit() // before: the QUIT was held too, for a connection that never came
      assert.equal(await held, 'v')
      assert.equal(tr.master.status, 'end')
      await assert.rejects(tr.master.get('k'), { code: 'CLIENT_CLOSED' })
    }))

  it('a replica flagged down while the read side connects to it is rejected once', () =>
    withLab(
      async (lab, open) => {
        const [a, b] = lab.replicas
        const fw = await forwarder(a!)
        try {
          const tr = open({
            natMap: { [a!.address]: { host: fw.host, port: fw.port } },
            // Always `a` while the sentinels call it eligible.
            replicaSelection: (reports) =>
              reports.find((r) => r.address === a!.address && r.eligible) ?? reports.find((r) => r.eligible),
            connectTimeoutMs: 10_000,
          })
          await tr.slave.ping()
          assert.equal(tr.slave.node?.address, a!.address)
          const rejected: Rejection[] = []
          tr.on('node-rejected', (r) => rejected.push(r))
          // The read side loses `a` and reconnects to it, but the handshake hangs...
          fw.blackhole()
          await until(() => tr.slave.status === 'connect', 'the read side hanging in the handshake')
          // ...and meanwhile the sentinels flag `a` down.
          lab.pause(a!)
          try {
            await until(() => tr.slave.node?.address === b!.address && tr.slave.status === 'ready', 'reads on b')
            await sleep(100)
            // Each sentinel announces +sdown on its own, so there may be one per attempt; but an
            // attempt dropped for it must not also count as "connection failed before ready".
            const reasons = new Set(rejected.filter((r) => r.address === a!.address).map((r) => r.reason))
            assert.deepEqual([...reasons], ['flagged s_down by the sentinels'])
          } finally {
            lab.resume(a!)
          }
        } finally {
          await fw.close()
        }
      },
      { downAfterMs: 1000 },
    ))
})

describe('races in the sharing of sentinel work', () => {
  it('every instance waiting on a shared discovery hears which sentinels failed', async () => {
    const sentinels = (await deadPorts(2)).map((port) => `127.0.0.1:${port}`)
    const a = new TwiceRedis('mymaster', sentinels)
    const b = new TwiceRedis('mymaster', sentinels)
    const heard = { a: 0, b: 0 }
    a.on('sentinel-unreachable', () => heard.a++)
    b.on('sentinel-unreachable', () => heard.b++)
    try {
      const results = await Promise.all([a.master.ping(), b.master.ping()].map((p) => p.catch((e: unknown) => e)))
      for (const r of results) assert.equal((r as { code?: string }).code, 'NO_SENTINEL_REACHABLE')
      assert.deepEqual(heard, { a: 2, b: 2 })
    } finally {
      await Promise.all([a.quit(), b.quit()])
    }
  })

  it('an instance with the lag gate never takes an answer asked without it', () =>
    withLab(async (lab, open) => {
      const tolerant = { maxLinkDownMs: 600_000 }
      const plain = open(tolerant)
      const gated = open({ ...tolerant, maxLagBytes: 0 })
      // Replicas that stay eligible by their link but fall behind.
      for (const r of lab.replicas) await lab.breakReplicaLink(r)
      await lab.command(lab.master, 'SET', 'lag', 'x'.repeat(10_000))
      let topology: Awaited<ReturnType<TwiceRedis['topology']>> | undefined
      await until(
        () => topology?.replicas.every((r) => (r.lagBytes ?? 0) > 0) ?? false,
        'the sentinels to see the replicas lag',
        20_000,
        async () => {
          topology = await gated.topology()
        },
      )
      // Both start a discovery in the same tick: the second joins the first if they share.
      await Promise.all([plain.slave.ping(), gated.slave.ping()])
      assert.equal(plain.slave.node?.role, 'replica')
      assert.equal(gated.slave.node?.role, 'master', 'the lag gate was skipped')
    }))

  it('health checks with the lag gate share sentinel answers across the instances of a process', () =>
    withLab(async (lab, open) => {
      const clients = Array.from({ length: 20 }, () => open({ maxLagBytes: 1e12, healthCheckIntervalMs: 200 }))
      await Promise.all(clients.map((tr) => tr.slave.ping()))
      const before = await sentinelConnectionsReceived(lab)
      await sleep(2000) // ten health checks per client
      const opened = (await sentinelConnectionsReceived(lab)) - before - lab.sentinels.length
      // About one shared query per check interval (10; 20 leaves room for a loaded machine), not one
      // per client per check (up to 200; 45 measured before answers were shared).
      assert.ok(opened <= 20, `${opened} sentinel connections in 2 s`)
    }))
})
