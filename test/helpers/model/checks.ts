// The invariants checked at the end of a model run, against the final master read directly.
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { bounded, type World } from './world.js'

/** Every write client still open: connected in db 0, outside MULTI, answering its own commands. */
export async function checkConnections(world: World): Promise<void> {
  for (const w of world.live()) {
    const what = `CLIENT INFO on writer ${w.id}`
    try {
      const info = String(await bounded(world, what, w.client.call('CLIENT', 'INFO')))
      if (!/ db=0 /.test(info) || !/ multi=-1 /.test(info) || / flags=\S*[xb]/.test(info)) {
        world.fail(`${what}: the write side is left in another db, a MULTI or blocked: ${info.trim()}`)
      }
    } catch (err) {
      world.rejection(what, err)
    }
  }
}

/** No acknowledged write lost, each INCR reply once and in the order sent; no LPUSH lost. */
export async function checkFinal(world: World): Promise<void> {
  const lab = world.lab
  const master = await lab.waitForMaster(undefined, 20_000)
  const direct = new Redis({ host: master.host, port: master.port, lazyConnect: true })
  try {
    for (const w of world.writers) {
      const final = Number((await direct.get(w.counter)) ?? 0)
      const acked = w.incrs.filter((r) => r.reply !== undefined).sort((a, b) => a.sent - b.sent)
      const replies = acked.map((r) => r.reply!)
      const highest = Math.max(0, ...replies)
      if (final < highest) {
        world.fail(`writer ${w.id}: acknowledged INCR replies up to ${highest}, the master has ${final} (writes lost)`)
      }
      for (let i = 1; i < replies.length; i++) {
        if (replies[i]! <= replies[i - 1]!) {
          world.fail(
            `writer ${w.id}: INCR replies out of send order or repeated: ${replies.slice(Math.max(0, i - 3), i + 3).join(', ')} (an acknowledged write was lost or overtaken)`,
          )
          break
        }
      }
      const remaining = new Set(await direct.lrange(w.list, 0, -1))
      const popped = new Set(w.popped)
      if (popped.size !== w.popped.length) world.fail(`writer ${w.id}: an element popped twice: ${w.popped.join(', ')}`)
      const lost = w.pushed.filter((e) => !remaining.has(e) && !popped.has(e))
      if (lost.length) world.fail(`writer ${w.id}: acknowledged LPUSHes lost: ${lost.join(', ')}`)
    }
  } finally {
    direct.disconnect()
  }
}

/**
 * Bun (1.4.5) raises no `unhandledRejection` for a rejected ioredis command nobody handles, with
 * plain ioredis 6 too (measured): there that check would test the runtime, not twiceredis, and is
 * left out (said once in the test's output). Everything else is checked everywhere.
 */
export const REPORTS_IOREDIS_REJECTIONS = !('Bun' in globalThis)

/** Each callback-style command answered exactly once; each bare rejection reached the process. */
export async function checkAnswers(world: World): Promise<void> {
  for (const c of world.callbacks) if (c.calls !== 1) world.fail(`${c.what}: its callback was called ${c.calls} times`)
  // unhandledRejection fires after the microtask queue drains: a few turns of the loop.
  for (let i = 0; i < 5; i++) await tick()
  await sleep(20)
  for (const [promise, entry] of world.bare) {
    if (!entry.settled) world.fail(`${entry.what}: the PING behind it never settled`)
    else if (REPORTS_IOREDIS_REJECTIONS && !world.unhandled.includes(promise)) {
      world.fail(`${entry.what}: rejected, but the application's unhandled rejection was swallowed`)
    }
  }
  for (const promise of world.unhandled) {
    if (!world.bare.has(promise as Promise<unknown>))
      world.fail(`an unhandled rejection of twiceredis' own: ${String(promise)}`)
  }
}

/** Quit every client left, then nothing of ours may remain: handles, timers, server connections. */
export async function quitAndCheckLeaks(world: World, baseline: Map<string, number>): Promise<void> {
  for (const inst of world.insts) {
    if (!inst.closed)
      await bounded(
        world,
        `quit instance ${inst.id}`,
        inst.tr.quit().catch((e) => world.rejection('quit', e)),
      )
    inst.closed = true
    for (const w of inst.writers.slice(1)) {
      if (!w.closed)
        await bounded(
          world,
          `quit writer ${w.id}`,
          w.client.quit().catch((e) => world.rejection('quit', e)),
        )
    }
    for (const w of inst.writers) w.closed = true
  }
  const name = `name=model-${world.run}-`
  let left: string[] = []
  let grown: string[] = []
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline) {
    grown = resourcesAbove(baseline)
    left = []
    for (const node of world.lab.dataNodes) {
      const list = String(await world.lab.command(node, 'CLIENT', 'LIST').catch(() => ''))
      for (const line of list.split('\n')) if (line.includes(name)) left.push(`${node.name}: ${line}`)
    }
    if (!grown.length && !left.length) return
    await sleep(100)
  }
  if (grown.length) world.fail(`after quit(), more live resources than before the run: ${grown.join(', ')}`)
  if (left.length) world.fail(`after quit(), connections of ours still open: ${left.join(' | ')}`)
}

/** Live handles and timers by kind (`getActiveResourcesInfo`, or the older `_getActiveHandles`), and process listeners. */
export function resources(): Map<string, number> {
  const counts = new Map<string, number>()
  const p = process as unknown as { getActiveResourcesInfo?: () => string[]; _getActiveHandles?: () => object[] }
  const kinds = p.getActiveResourcesInfo?.() ?? p._getActiveHandles?.().map((h) => h.constructor.name) ?? []
  for (const r of kinds) counts.set(r, (counts.get(r) ?? 0) + 1)
  // Listeners on the process (exit hooks, warnings): the run swaps unhandledRejection's itself.
  for (const name of process.eventNames()) {
    if (name !== 'unhandledRejection') counts.set(`process '${String(name)}' listener`, process.listenerCount(name))
  }
  return counts
}

function resourcesAbove(baseline: Map<string, number>): string[] {
  const out: string[] = []
  for (const [kind, n] of resources())
    if (n > (baseline.get(kind) ?? 0)) out.push(`${kind} ${n} (was ${baseline.get(kind) ?? 0})`)
  return out
}
