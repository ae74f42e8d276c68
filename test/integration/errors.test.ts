import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { inspect, promisify } from 'node:util'
import {
  AuthenticationError,
  MasterNotFoundError,
  NoSentinelReachableError,
  TwiceRedisError,
  type TwiceRedisOptions,
} from '../../src/index.js'
import { labPerFile } from '../helpers/lab.js'

const password = 'data-secret-1'
const sentinelPassword = 'sentinel-secret-2'

describe('errors produced by real conditions', () => {
  const fx = labPerFile({ password, sentinelPassword, replicas: 1 })
  const open = (name: string, pw: string, options: TwiceRedisOptions = {}) =>
    fx.open({ name, password: pw, sentinelPassword, ...options })
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    )

  it('MASTER_NOT_FOUND when no sentinel knows the name', async () => {
    const err = await failure(open('no-such-master', password).master.get('k'))
    assert.ok(err instanceof MasterNotFoundError, inspect(err))
    assert.equal(err.code, 'MASTER_NOT_FOUND')
    assert.match(err.message, /no-such-master/)
  })

  it('AUTH_FAILED for a wrong data password, without the password in it, and no retry loop', async () => {
    const tr = open(fx.lab.masterName, 'wrong-password-3')
    const resolved: unknown[] = []
    tr.on('resolved', (e) => resolved.push(e))
    const err = await failure(tr.master.get('k'))
    assert.ok(err instanceof AuthenticationError, inspect(err))
    assert.equal(err.code, 'AUTH_FAILED')
    assert.equal(err.target, 'data')
    assert.doesNotMatch(inspect(err, { depth: 10 }), /wrong-password-3|data-secret-1|sentinel-secret-2/)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(resolved.length, 1, 'a refused password is not retried in a loop')
    assert.equal(tr.master.status, 'end')
  })

  it('AUTH_FAILED for a wrong sentinel password', async () => {
    const tr = open(fx.lab.masterName, password, { sentinelPassword: 'wrong-sentinel-4' })
    const err = await failure(tr.master.get('k'))
    assert.ok(err instanceof AuthenticationError, inspect(err))
    assert.equal(err.target, 'sentinel')
    assert.doesNotMatch(inspect(err, { depth: 10 }), /wrong-sentinel-4/)
  })

  it('never shows a password in util.inspect', async () => {
    const tr = open(fx.lab.masterName, password)
    await tr.master.ping()
    assert.doesNotMatch(inspect(tr, { depth: 10 }) + inspect(tr.master, { depth: 10 }), /secret/)
  })

  it('lets the process exit after quit()', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/quit-exits.ts'], {
      timeout: 15_000,
      env: {
        ...process.env,
        LAB_MASTER_NAME: fx.lab.masterName,
        LAB_SENTINELS: fx.lab.sentinels.map((s) => s.address).join(','),
        LAB_PASSWORD: password,
        LAB_SENTINEL_PASSWORD: sentinelPassword,
      },
    }).catch((err) => assert.fail(`fixture did not exit by itself: ${inspect(err)}`))
    assert.match(stdout, /quit done/)
  })

  // Last: it stops every sentinel.
  it('NO_SENTINEL_REACHABLE within a bound when every sentinel is down, and recovers when one is back', async () => {
    const tr = open(fx.lab.masterName, password)
    await tr.master.set('k', 'v')
    tr.disconnect()
    await Promise.all(fx.lab.sentinels.map((s) => fx.lab.kill(s)))
    const started = Date.now()
    const err = await failure(tr.master.get('k'))
    assert.ok(err instanceof NoSentinelReachableError, inspect(err))
    assert.ok(err instanceof TwiceRedisError)
    assert.equal(err.code, 'NO_SENTINEL_REACHABLE')
    assert.equal(err.sentinels.length, 3)
    // Refused connections fail fast: well within the per-sentinel bound.
    assert.ok(Date.now() - started < 3 * 500 + 1000, `took ${Date.now() - started} ms`)

    await fx.lab.restart(fx.lab.sentinels[0]!)
    assert.equal(await tr.master.get('k'), 'v')
  })
})
