import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { type Lab, type LabNode, startLab } from '../../src/lab/index.js'
import { ServerProcess } from '../../src/lab/server.js'
import { parseInfo } from '../../src/protocol/node-info.js'

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
async function until(check: () => Promise<boolean>) {
  for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(await check())
}
const pids = (lab: Lab) => [...lab.dataNodes, ...lab.sentinels].map((n) => (n as LabNode & { pid?: number }).pid)

describe('the lab', () => {
  let lab: Lab
  before(async () => {
    lab = await startLab()
  })
  after(() => lab.stop())

  it('starts a master, two replicas and three sentinels that agree on the master', async () => {
    assert.equal(lab.replicas.length, 2)
    assert.equal(lab.sentinels.length, 3)
    for (const s of lab.sentinels) {
      assert.equal(s.host, '127.0.0.1')
      const [host, port] = (await lab.command(s, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', lab.masterName)) as string[]
      assert.equal(`${host}:${port}`, lab.master.address)
    }
  })

  it('starts with every replica streaming (it has acknowledged), and waitForReplication waits for them', async () => {
    // Redis 7.0 streams a replica fresh from a diskless sync nothing until its first REPLCONF ACK.
    const info = String(await lab.command(lab.master, 'INFO', 'replication'))
    const acked = [...info.matchAll(/^slave\d+:.*,offset=(\d+),/gm)].map((m) => Number(m[1]))
    assert.equal(acked.length, 2)
    assert.ok(
      acked.every((offset) => offset > 0),
      info,
    )
    await lab.command(lab.master, 'SET', 'lab:replicated', 'yes')
    await lab.waitForReplication()
    for (const r of lab.replicas) assert.equal(await lab.command(r, 'GET', 'lab:replicated'), 'yes')
  })

  it('breakReplicaLink: sentinels see the link down while the replica still answers; restore heals it', async () => {
    const replica = lab.replicas[0]!
    await lab.breakReplicaLink(replica)
    assert.equal(await lab.command(replica, 'PING'), 'PONG')
    for (const replicas of (await lab.sentinelReplicas()).values()) {
      assert.equal(replicas.find((r) => r.address === replica.address)?.linkStatus, 'err')
    }
    await lab.restoreReplicaLink(replica)
    const info = parseInfo(String(await lab.command(replica, 'INFO', 'replication')))
    assert.equal(info.master_link_status, 'up')
  })

  it('restoreReplicaLink right after a break returns only once the link is back: the sentinels report it ok after', async () => {
    // The sentinels' INFO may be from before the break: their `ok` then was not yet about the restored link.
    const replica = lab.replicas[1]!
    await lab.breakReplicaLink(replica, { wait: false })
    await lab.restoreReplicaLink(replica)
    const until = Date.now() + 1500 // past the lab sentinels' INFO period (1 s)
    while (Date.now() < until) {
      for (const [sentinel, replicas] of await lab.sentinelReplicas()) {
        const status = replicas.find((r) => r.address === replica.address)?.linkStatus
        assert.equal(status, 'ok', `${sentinel} reports the link ${status} after the restore`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  })

  it('counts the client connections a sentinel holds, other sentinels aside', async () => {
    const sentinel = lab.sentinels[0]!
    assert.equal(await lab.clientConnections(sentinel), 0)
    const client = new Redis({ host: sentinel.host, port: sentinel.port })
    await client.ping()
    assert.equal(await lab.clientConnections(sentinel), 1)
    client.disconnect() // sentinels have no QUIT
    await until(async () => (await lab.clientConnections(sentinel)) === 0)
  })

  it('waitForReplication() right after failover() says to wait for the new master first', async () => {
    const old = lab.master
    await lab.failover()
    // The leader demotes the old master a second or two after the promotion.
    const demoted = Date.now() + 15_000
    // (It also closes the clients of the old master: a ROLE may fail once.)
    const role = () => lab.command(old, 'ROLE').then((r) => (r as string[])[0], String)
    while ((await role()) !== 'slave') {
      assert.ok(Date.now() < demoted, 'the old master was not demoted')
      await new Promise((r) => setTimeout(r, 50))
    }
    await assert.rejects(lab.waitForReplication(), { code: 'LAB_FAILED', message: /waitForNewMaster\(\) first/ })
    assert.notEqual((await lab.waitForNewMaster()).address, old.address)
    await lab.waitForReplication()
  })

  it('kill(master) leads to a new master elected by the sentinels', async () => {
    const old = lab.master
    await lab.kill(old)
    const elected = await lab.waitForNewMaster(10_000)
    assert.notEqual(elected.address, old.address)
    assert.equal(lab.master, elected)
    await lab.restart(old)
    // The old master comes back as a replica of the new one.
    await lab.waitForMaster(elected.address)
  })

  it('a command a node does not answer fails LAB_FAILED, naming the node and the command', async () => {
    const replica = lab.replicas[0]!
    lab.pause(replica)
    try {
      await assert.rejects(lab.command(replica, 'PING'), {
        code: 'LAB_FAILED',
        message: `${replica.name} (${replica.address}) did not answer PING within 2000 ms`,
      })
    } finally {
      lab.resume(replica)
    }
  })
})

describe('lab lifecycle', () => {
  it('two labs run side by side, and stop() leaves no process or temp dir, twice', async () => {
    const [a, b] = await Promise.all([startLab({ replicas: 1, sentinels: 1 }), startLab({ replicas: 1, sentinels: 1 })])
    const ports = [a, b].flatMap((l) => [...l.dataNodes, ...l.sentinels].map((n) => n.port))
    assert.equal(new Set(ports).size, ports.length)
    const all = [...pids(a), ...pids(b)]
    assert.ok(all.every(alive))
    await Promise.all([a.stop(), b.stop()])
    await a.stop()
    assert.ok(!all.some(alive))
    assert.ok(!existsSync(a.dir) && !existsSync(b.dir))
  })

  // A CI leg failed so: a free port was taken by another lab's node before ours bound it; ours
  // exited, the other answered the PING, and start() took it for ours ("sentinel-2 ... is not running").
  it("start() on a port another server took in between fails (it never takes that server's PONG for its own)", async () => {
    const lab = await startLab({ replicas: 0, sentinels: 1 })
    try {
      const taken = lab.master.port
      const dir = mkdtempSync(join(tmpdir(), 'twiceredis-port-'))
      const p = new ServerProcess('intruder', 'data', '127.0.0.1', taken, dir, undefined, undefined)
      p.writeConfig(`port ${taken}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir ${dir}\n`)
      await assert.rejects(p.start(5000), { code: 'LAB_FAILED' })
      await p.kill()
      rmSync(dir, { recursive: true, force: true })
    } finally {
      await lab.stop()
    }
  })

  it('rejects bad options by name', async () => {
    await assert.rejects(startLab({ replicas: -1 }), { code: 'LAB_FAILED', message: /`replicas`/ })
    await assert.rejects(startLab({ sentinels: 1, quorum: 2 }), { code: 'LAB_FAILED', message: /`quorum`/ })
  })
})
