import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { WatchGuard } from '../../src/watch-guard.js'

/** Send `names` through `guard`; `answered` WATCHes get their reply at once. */
function run(guard: WatchGuard, script: string): string[] {
  return script.split(' ').map((step) => {
    if (step === 'close') {
      guard.closed()
      return step
    }
    const what = guard.next(step)
    if (what !== 'watch') return what
    guard.answered()
    return 'send'
  })
}

describe('WatchGuard', () => {
  it('a transaction whose WATCH was answered on a closed connection is aborted at its EXEC', () => {
    const guard = new WatchGuard()
    assert.deepEqual(run(guard, 'watch get close multi set exec'), ['send', 'send', 'close', 'send', 'send', 'abort'])
    assert.equal(guard.open, false)
    assert.deepEqual(run(guard, 'watch multi set exec'), ['send', 'send', 'send', 'send'], 'the next one runs')
  })

  it('any case; a WATCH after the loss does not bring back the keys watched before it', () => {
    const guard = new WatchGuard()
    assert.deepEqual(run(guard, 'WATCH close Watch MULTI EXEC'), ['send', 'close', 'send', 'send', 'abort'])
  })

  it('UNWATCH, DISCARD and RESET end the lost WATCH; nothing is aborted without a WATCH', () => {
    for (const end of ['unwatch', 'discard', 'reset']) {
      const guard = new WatchGuard()
      assert.deepEqual(run(guard, `watch close ${end} multi exec`).at(-1), 'send', end)
    }
    assert.deepEqual(run(new WatchGuard(), 'multi close set exec close multi exec'), [
      'send',
      'close',
      'send',
      'send',
      'close',
      'send',
      'send',
    ])
  })

  it('a MULTI sent before the loss is not aborted here (its EXEC fails on its own); a WATCH not yet answered is not lost', () => {
    const guard = new WatchGuard()
    assert.deepEqual(run(guard, 'watch multi close exec'), ['send', 'send', 'close', 'send'])
    const unanswered = new WatchGuard()
    unanswered.next('watch')
    unanswered.closed() // ioredis sends it again on the next connection, where it is answered
    unanswered.answered()
    assert.deepEqual(run(unanswered, 'multi exec'), ['send', 'send'])
  })

  it('open while a WATCH is, for the idle timeout', () => {
    const guard = new WatchGuard()
    guard.next('watch')
    assert.equal(guard.open, true)
    guard.next('get')
    assert.equal(guard.open, true)
    guard.next('exec')
    assert.equal(guard.open, false)
  })
})
