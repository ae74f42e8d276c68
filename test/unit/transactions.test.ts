import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type CommandKind, kindOf } from '../../src/command-kinds.js'
import { TransactionGuard, WatchGuard } from '../../src/transactions.js'

interface Guard {
  closed(): void
  written(kind: CommandKind): { abort?: boolean; refuse?: boolean; reply?: ((ok: boolean) => void) | undefined }
}

/**
 * Write the commands of `script` through `guard`: `name` is answered at once, `name~` later (by
 * an `answer` step, oldest first) or never; `close` closes the connection. Says, for each command
 * written, whether it is sent, aborted or refused.
 */
function run(guard: Guard, script: string): string[] {
  const pending: (((ok: boolean) => void) | undefined)[] = []
  const out: string[] = []
  for (const step of script.split(' ')) {
    if (step === 'close') guard.closed()
    else if (step === 'answer') pending.shift()?.(true)
    else {
      const written = guard.written(kindOf(step.replace('~', '')))
      out.push(written.abort ? 'abort' : written.refuse ? 'refuse' : 'send')
      if (step.endsWith('~')) pending.push(written.reply)
      else written.reply?.(true)
    }
  }
  return out
}

describe('WatchGuard', () => {
  it('a MULTI written on another connection than the one that answered the WATCH: its EXEC is aborted', () => {
    const guard = new WatchGuard()
    assert.deepEqual(run(guard, 'watch get close multi set exec'), ['send', 'send', 'send', 'send', 'abort'])
    assert.equal(guard.open, false)
    assert.deepEqual(run(guard, 'watch multi set exec'), ['send', 'send', 'send', 'send'], 'the next one runs')
  })

  it('any case; a WATCH after the loss does not bring back the keys watched before it', () => {
    assert.deepEqual(run(new WatchGuard(), 'WATCH close Watch MULTI EXEC'), ['send', 'send', 'send', 'abort'])
  })

  it('a transaction written again after its connection closed unanswered is aborted (ioredis resends it)', () => {
    const guard = new WatchGuard()
    assert.deepEqual(run(guard, 'watch multi~ set~ exec~ close multi set exec'), [
      'send',
      'send',
      'send',
      'send',
      'send',
      'send',
      'abort',
    ])
  })

  it('UNWATCH, DISCARD and RESET end the lost WATCH once answered; nothing is aborted without a WATCH', () => {
    for (const end of ['unwatch', 'discard', 'reset']) {
      assert.deepEqual(run(new WatchGuard(), `watch close ${end} multi exec`).at(-1), 'send', end)
    }
    assert.deepEqual(run(new WatchGuard(), 'multi close set exec close multi exec'), Array(5).fill('send'))
  })

  it('a WATCH sent again on the next connection holds there; an end answered after a later WATCH ends nothing', () => {
    assert.deepEqual(run(new WatchGuard(), 'watch~ close watch multi exec'), Array(4).fill('send'))
    assert.deepEqual(run(new WatchGuard(), 'watch multi exec~ watch~ answer answer close multi exec').at(-1), 'abort')
  })

  it('open while a WATCH is, for the idle timeout', () => {
    const guard = new WatchGuard()
    run(guard, 'watch get')
    assert.equal(guard.open, true)
    run(guard, 'exec')
    assert.equal(guard.open, false)
  })
})

describe('TransactionGuard', () => {
  it('what follows a MULTI on a closed connection is refused up to its EXEC or DISCARD, then all goes', () => {
    const guard = new TransactionGuard()
    assert.deepEqual(run(guard, 'multi set close set exec get'), ['send', 'send', 'refuse', 'refuse', 'send'])
    assert.equal(guard.open, false)
    assert.deepEqual(run(guard, 'MULTI close Set Discard multi set exec'), [
      'send',
      'refuse',
      'refuse',
      'send',
      'send',
      'send',
    ])
  })

  it('a MULTI written again opens it on the new connection; RESET ends it and goes', () => {
    assert.deepEqual(run(new TransactionGuard(), 'multi~ set~ close multi set exec'), Array(5).fill('send'))
    assert.deepEqual(run(new TransactionGuard(), 'multi close reset set'), Array(3).fill('send'))
  })

  it('an EXEC written on a connection that closed before answering is refused where ioredis writes it again; what follows it goes', () => {
    const guard = new TransactionGuard()
    assert.deepEqual(run(guard, 'multi set exec~ get~ close exec get'), [
      'send',
      'send',
      'send',
      'send',
      'refuse',
      'send',
    ])
  })

  it('while the connection drops (its close not seen yet), the rest of its transaction is refused at once', () => {
    const guard = new TransactionGuard()
    run(guard, 'multi set')
    assert.equal(guard.written(kindOf('set'), true).refuse, true)
    assert.equal(guard.written(kindOf('exec'), true).refuse, true)
    assert.equal(guard.open, false)
    assert.equal(guard.written(kindOf('get'), true).refuse, false)
  })

  it('abandoned: the refusals cover what is written in the same run; the transaction ends before its rejection is handled', async () => {
    const guard = new TransactionGuard()
    let abandoned = 0
    const write = (name: string) => guard.written(kindOf(name), false, () => abandoned++).refuse
    run(guard, 'multi set close')
    // A microtask queued before the refusal runs while the transaction is still refused.
    const before = Promise.resolve().then(() => write('incr'))
    // Refused, then rejected: what reacts to the rejection runs after the transaction ended.
    const rejected = write('set') ? Promise.reject(new Error('TRANSACTION_ABORTED')) : Promise.resolve()
    assert.equal(write('get'), true, 'the rest of the same run is refused too')
    assert.equal(await before, true)
    const after = await rejected.then(
      () => 'answered',
      () => write('set'),
    )
    assert.equal(after, false, "a write sent on the rejection is the application's own")
    assert.equal(abandoned, 1)
    assert.equal(guard.active, false)
    assert.equal(write('exec'), false, 'an EXEC sent after it goes (Redis answers EXEC without MULTI)')
  })

  it("a command written before the MULTI and again once its EXEC is written goes (reconnectOnError's resend); one queued in it does not", () => {
    const guard = new TransactionGuard()
    const [sadd, get] = [{}, {}]
    guard.written(kindOf('sadd'), false, undefined, sadd)
    guard.written(kindOf('multi'), false, undefined, {})
    guard.written(kindOf('get'), false, undefined, get)
    const exec = guard.written(kindOf('exec'), false, undefined, {})
    // ioredis resends the failed SADD while the connection drops, the EXEC's answer not read yet.
    assert.equal(guard.written(kindOf('sadd'), true, undefined, sadd).refuse, false)
    assert.equal(
      guard.written(kindOf('incr'), true, undefined, {}).refuse,
      false,
      'written after the EXEC: not the transaction',
    )
    assert.equal(guard.written(kindOf('get'), true, undefined, get).refuse, true, 'queued in it: never run alone')
    exec.reply?.()
  })

  it('no MULTI, nothing refused', () => {
    assert.deepEqual(run(new TransactionGuard(), 'set close exec get close discard'), Array(4).fill('send'))
  })
})
