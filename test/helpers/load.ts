import type { TwiceRedis } from '../../src/index.js'

export interface LoadReport {
  ok: { master: number; replica: number }
  /** Rejections by error code (or message when there is no code). */
  failed: Record<string, number>
  /** Commands still unsettled when the load was stopped and given `settleMs` to finish. */
  hung: number
}

/**
 * A writer and a reader issuing a command every few ms, each awaited, until stopped. Every
 * command is accounted for: completed, rejected (by error code), or hung.
 */
export function startLoad(tr: TwiceRedis, intervalMs = 5) {
  const report: LoadReport = { ok: { master: 0, replica: 0 }, failed: {}, hung: 0 }
  const pending = new Set<Promise<unknown>>()
  let running = true
  const loop = async (side: 'master' | 'replica') => {
    for (let i = 0; running; i++) {
      const command = side === 'master' ? tr.master.set('load', String(i)) : tr.slave.get('load')
      pending.add(command)
      try {
        await command
        report.ok[side]++
      } catch (err) {
        const e = err as { code?: string; name?: string; message: string }
        const key = `${side} ${e.code ?? e.name ?? 'Error'}: ${e.code ? '' : e.message.slice(0, 60)}`.trim()
        report.failed[key] = (report.failed[key] ?? 0) + 1
      } finally {
        pending.delete(command)
      }
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  }
  const loops = Promise.all([loop('master'), loop('replica')])
  return {
    report,
    /** Count of successful commands so far on a side. */
    progress: (side: 'master' | 'replica') => report.ok[side],
    async stop(settleMs = 20_000): Promise<LoadReport> {
      running = false
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((r) => {
        timer = setTimeout(r, settleMs)
      })
      await Promise.race([loops, timeout])
      clearTimeout(timer)
      report.hung = pending.size
      return report
    },
  }
}

/**
 * Wait until `check()` holds, running `refresh` before each look, or throw after `timeoutMs`.
 * A failing `refresh` counts as "not yet" (a node may drop our probe in the middle of a fault).
 */
export async function until(
  check: () => boolean,
  what: string,
  timeoutMs = 20_000,
  refresh: () => Promise<void> = async () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      await refresh()
      if (check()) return
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last })
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Reject instead of hanging: a command that never settles fails the test with `what`. */
export function settles<T>(work: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([work, hang]).finally(() => clearTimeout(timer))
}
