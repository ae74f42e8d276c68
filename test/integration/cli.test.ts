import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { promisify } from 'node:util'

const dir = mkdtempSync(join(tmpdir(), 'twiceredis-cli-test-'))
const env = { ...process.env, TWICEREDIS_LAB_STATE: join(dir, 'lab.json') }
const cli = ['--import', 'tsx', 'src/cli/index.ts']
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [...cli, ...args], { env, timeout: 30_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  )

describe('twiceredis CLI', () => {
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('--help and --version', async () => {
    const help = await run('--help')
    assert.equal(help.code, 0)
    assert.match(help.stdout, /twiceredis lab up/)
    const version = await run('--version')
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }
    assert.equal(version.stdout.trim(), pkg.version)
    assert.equal((await run('frobnicate')).code, 2)
  })

  it('lab up without redis-server says how to install it, with its own exit code', async () => {
    const r = await promisify(execFile)(process.execPath, [...cli, 'lab', 'up'], {
      env: { ...env, PATH: '/nonexistent', TWICEREDIS_REDIS_SERVER: '/nonexistent/redis-server' },
      timeout: 30_000,
    }).catch((e: { code: number; stderr: string }) => e)
    assert.equal((r as { code: number }).code, 10)
    assert.match(
      (r as { stderr: string }).stderr,
      /apt-get install redis-server.*brew install redis.*REDIS_SERVER_NOT_FOUND/s,
    )
  })

  it('lab up prints the sentinels and stays up until lab down (nodes named with --hostnames)', async () => {
    assert.equal((await run('lab', 'status')).code, 3)
    const args = ['lab', 'up', '--replicas', '1', '--sentinels', '1', '--hostnames']
    const up = spawn(process.execPath, [...cli, ...args], { env })
    try {
      let out = ''
      up.stdout.on('data', (d) => {
        out += d
      })
      await new Promise<void>((resolve, reject) => {
        up.stdout.on('data', () => out.includes('lab is up') && resolve())
        up.once('exit', (code) => reject(new Error(`lab up exited with ${code}: ${out}`)))
      })
      assert.match(out, /master name: mymaster/)
      const sentinels = /sentinels: +(\S+)/.exec(out)?.[1]
      assert.match(sentinels ?? '', /^localhost:\d+$/)

      const status = await run('lab', 'status')
      assert.equal(status.code, 0)
      assert.match(status.stdout, new RegExp(sentinels!))
      const read = await run('read', 'ROLE')
      assert.equal(read.code, 0, read.stderr)
      assert.match(read.stdout, /slave/)

      const exited = new Promise((resolve) => up.once('exit', resolve))
      assert.equal((await run('lab', 'down')).code, 0)
      assert.equal(await exited, 0)
      assert.equal((await run('lab', 'status')).code, 3)
    } finally {
      up.kill('SIGTERM')
    }
  })
})
