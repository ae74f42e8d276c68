/** What the lab waits on: polling until a condition holds, the replicas' `WAIT`, the sentinels' masters. */
import { setTimeout as sleep } from 'node:timers/promises'
import { LabError } from '../errors.js'
import { type LabNode, ServerProcess } from './server.js'

/** Poll `probe` every 50 ms until it returns a value, or throw `LabError` after `timeoutMs`. */
export async function pollUntil<T>(timeoutMs: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    await sleep(50)
  }
  throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last })
}

/**
 * @internal How many replicas (waiting for `replicas` at most) have everything `master` had
 * written: a write of its own (a PUBLISH, which replicates), then `WAIT` for it on the same
 * connection (WAIT asks the replicas at once).
 */
export async function replicated(master: ServerProcess, replicas: number, timeoutMs: number): Promise<number> {
  const wait = ['WAIT', replicas, timeoutMs]
  return Number(await master.commands([['PUBLISH', '__lab__:replicated', ''], wait], timeoutMs + 1_000))
}

/** The master address each running sentinel reports; unreachable or paused ones are skipped. */
export async function sentinelMasters(sentinels: readonly LabNode[], masterName: string): Promise<string[]> {
  const replies = await Promise.allSettled(
    sentinels.map((s) => proc(s).command(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName], 500)),
  )
  return replies.flatMap((r) =>
    r.status === 'fulfilled' && Array.isArray(r.value) ? [`${r.value[0]}:${r.value[1]}`] : [],
  )
}

/** The process behind a node of the lab. */
export function proc(node: LabNode): ServerProcess {
  if (!(node instanceof ServerProcess))
    throw new LabError(`${String((node as LabNode)?.name)} is not a node of this lab`)
  return node
}
