import type { Redis } from 'ioredis'

export interface WritersReport {
  /** `INCR`s the server acknowledged. */
  acked: number
  /** Rejected commands, by message. */
  failed: Record<string, number>
  /** The longest any one `INCR` took, in ms. */
  longestMs: number
}

/**
 * `loops` concurrent loops of `INCR key` on `client` (each awaits its reply before the next), so
 * that every acknowledged write is counted: after a fault, the counter on the master must be at
 * least the number acknowledged, or acknowledged writes were lost.
 */
export function startWriters(client: Pick<Redis, 'incr'>, key: string, loops = 10) {
  const report: WritersReport = { acked: 0, failed: {}, longestMs: 0 }
  let running = true
  const loop = async () => {
    while (running) {
      const started = performance.now()
      try {
        await client.incr(key)
        report.acked++
      } catch (err) {
        const message = (err as Error).message.slice(0, 80)
        report.failed[message] = (report.failed[message] ?? 0) + 1
      }
      report.longestMs = Math.max(report.longestMs, performance.now() - started)
    }
  }
  const all = Promise.all(Array.from({ length: loops }, loop))
  return {
    report,
    async stop(): Promise<WritersReport> {
      running = false
      await all
      return report
    },
  }
}
