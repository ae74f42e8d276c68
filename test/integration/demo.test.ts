import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'

describe('the demo (the README quick start)', () => {
  it('runs end to end: seed examples, disconnects, a live failover, teardown', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
      timeout: 60_000,
    })
    assert.match(stdout, /tr\.slave\.get\('je mange'\) = 'huehue'/)
    assert.match(stdout, /sentinels switched to/)
    assert.match(stdout, /writes: \d+ ok, \d+ failed/)
    assert.match(stdout, /Tearing the lab down/)
    assert.doesNotMatch(stdout, /tötes_passowrd/)
  })
})
