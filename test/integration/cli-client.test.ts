import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { Lab } from '../../src/lab/index.js'
import { lab as startLab } from '../helpers/lab.js'

const password = 'cli-secret-pw'

describe('twiceredis status, read, write and watch against a lab', () => {
  let lab: Lab
  let env: NodeJS.ProcessEnv
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
      env,
      timeout: 30_000,
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    )

  before(async () => {
    lab = await startLab({ password })
    env = {
      ...process.env,
      TWICEREDIS_LAB_STATE: '/nonexistent/lab.json',
      TWICEREDIS_SENTINELS: lab.sentinels.map((s) => s.address).join(','),
      TWICEREDIS_MASTER_NAME: lab.masterName,
      TWICEREDIS_PASSWORD: password,
    }
  })
  after(() => lab.stop())

  it('status prints master, replicas, sentinels and the nodes a read and a write would use', async () => {
    // The sentinels' INFO of the replicas goes stale (as their own hellos do between INFO periods):
    // a write they have not seen the replicas take must not show as lag.
    for (const s of lab.sentinels) await lab.command(s, 'SENTINEL', 'DEBUG', 'INFO-PERIOD', 60_000)
    await lab.command(lab.master, 'SET', 'cli:pad', 'x'.repeat(2000))
    await lab.waitForReplication()
    const { code, stdout } = await run('status').finally(() =>
      Promise.all(lab.sentinels.map((s) => lab.command(s, 'SENTINEL', 'DEBUG', 'INFO-PERIOD', 1000))),
    )
    assert.equal(code, 0)
    assert.match(stdout, new RegExp(`master +${lab.master.address}`))
    // Each replica's own offset, read right after the master's: a replica caught up is 0 bytes behind
    // (the sentinels' INFO snapshots trail the hellos the sentinels themselves publish).
    for (const r of lab.replicas) assert.match(stdout, new RegExp(`${r.address} +slave +ok +0 B +yes`))
    for (const s of lab.sentinels) assert.match(stdout, new RegExp(`${s.address} +yes +[\\d.]+ ms`))
    assert.match(stdout, new RegExp(`a write would use +${lab.master.address} \\(master\\)`))
    assert.match(stdout, /a read would use +127\.0\.0\.1:\d+ \(replica\)/)
    assert.doesNotMatch(stdout, new RegExp(password))
  })

  it("status with zones and a staleness bound shows each replica's zone and estimate, and the reads' zone", async () => {
    const args = ['--client-zone', 'a', '--zones', 'a=127.0.0.1/32;b=10.0.0.0/8', '--max-staleness-ms', '2000']
    const { code, stdout } = await run('status', ...args)
    assert.equal(code, 0)
    for (const r of lab.replicas)
      assert.match(stdout, new RegExp(`${r.address} +slave +ok +\\d+ B +a +~\\d+ ms \\(master offset: [a-z-]+\\) +yes`))
    assert.match(stdout, /^ {2}in zone a, client zone a$/m)
  })

  it('status --json is plain data, and reports a broken replica with its reason', async () => {
    const broken = lab.replicas[0]!
    await lab.breakReplicaLink(broken)
    try {
      const { code, stdout } = await run('status', '--json')
      assert.equal(code, 0)
      const status = JSON.parse(stdout)
      assert.equal(status.master.address, lab.master.address)
      const replica = status.replicas.find((r: { address: string }) => r.address === broken.address)
      assert.equal(replica.eligible, false)
      assert.equal(replica.reason, 'master link err')
      assert.equal(status.sentinels.length, 3)
    } finally {
      await lab.restoreReplicaLink(broken)
    }
  })

  it('write and read run one command on each side', async () => {
    assert.equal((await run('write', 'SET', 'cli:key', 'hello')).stdout.trim(), 'OK')
    await lab.waitForReplication()
    assert.equal((await run('read', 'GET', 'cli:key')).stdout.trim(), 'hello')
    assert.equal((await run('read', 'GET', 'cli:missing')).stdout.trim(), '(nil)')
    const err = await run('write', 'INCR', 'cli:key')
    assert.equal(err.code, 24)
    assert.match(err.stderr, /\(error\) ERR value is not an integer/)
  })

  it('has distinct exit codes for unreachable sentinels and an unknown master name', async () => {
    const unknown = await run('status', '--name', 'no-such-master')
    assert.equal(unknown.code, 21)
    assert.match(unknown.stderr, /MASTER_NOT_FOUND/)
    const unreachable = await run('read', '--sentinels', '127.0.0.1:1', 'GET', 'k')
    assert.equal(unreachable.code, 20)
    assert.match(unreachable.stderr, /NO_SENTINEL_REACHABLE/)
    const wrongPassword = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'read', 'GET', 'k'],
      {
        env: { ...env, TWICEREDIS_PASSWORD: 'not-the-password' },
      },
    ).catch((e: { code: number; stderr: string }) => e)
    assert.equal((wrongPassword as { code: number }).code, 23)
    assert.doesNotMatch((wrongPassword as { stderr: string }).stderr, /not-the-password/)
    const elsewhere = await run('write', '--allowed-nodes', '10.0.0.0/8,*.redis.svc.cluster.local', 'SET', 'k', 'v')
    assert.equal(elsewhere.code, 25)
    assert.match(elsewhere.stderr, /NODE_NOT_ALLOWED/)
    assert.doesNotMatch(elsewhere.stderr, new RegExp(password))
    const allowed = await run('write', '--allowed-nodes', '127.0.0.0/8', 'SET', 'k', 'v')
    assert.equal(allowed.code, 0)
    const malformed = await run('status', '--allowed-nodes', '10.0.0.0/99')
    assert.equal(malformed.code, 2)
    assert.match(malformed.stderr, /INVALID_OPTION/)
  })

  it('--ask-password reads the password from standard input, never from the arguments', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'write', '--ask-password', 'SET', 'pw:key', 'v'],
      {
        env: { ...env, TWICEREDIS_PASSWORD: '' },
      },
    )
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    child.stdin.end(`${password}\n`)
    const code = await new Promise((resolve) => child.once('exit', resolve))
    assert.equal(code, 0, out)
    assert.equal(out.trim(), 'OK')
  })

  it('watch prints the switch when a failover happens', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'watch'], { env })
    try {
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
      })
      const seen = (re: RegExp) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`not seen: ${re}\n${out}`)), 20_000)
          const check = () => {
            if (!re.test(out)) return
            clearTimeout(timer)
            resolve()
          }
          child.stdout.on('data', check)
          check()
        })
      await seen(/listening on 3 sentinel/)
      await lab.failover()
      await seen(/\+switch-master mymaster/)
      await seen(/now: master 127\.0\.0\.1:\d+, replicas/)
      // Never the master among the replicas (a sentinel may still list the promoted one for a moment).
      for (const [, master, replicas] of out.matchAll(/now: master (\S+), replicas (.*)/g)) {
        assert.ok(!replicas!.includes(master!.replace(/,$/, '')), out)
      }
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGINT')
      assert.equal(await exited, 0)
      await lab.waitForNewMaster()
    } finally {
      child.kill('SIGKILL')
    }
  })
})
