import type { Command, Redis } from 'ioredis'
import { offlineCommands, onSettled } from '../ioredis-internals.js'

/** What `quit()` looks at in a client's lifecycle (reconnect.ts). */
interface Quitting {
  /** Commands deferred by `disconnect()` to the next connection. */
  readonly deferred: readonly (readonly [Command, ...unknown[]])[]
  /** Set while they are answered: commands sent after `quit()` are refused meanwhile. */
  quitting: boolean
}

/**
 * `quit()` on a client whose commands still wait for a connection (sent while it connects, or
 * deferred by `disconnect()` to the next one): as with plain ioredis, whose QUIT waits in its
 * offline queue behind them, they are answered first. Settles once they all have, or after
 * `connectTimeout` (a node that never gets ready: quit() then drops them, as before); `false` at
 * once when none waits (quit() then writes its QUIT in the same tick, as ever).
 */
export function answeredFirst(client: Redis, life: Quitting): Promise<void> | false {
  const waiting = [...offlineCommands(client), ...life.deferred.map(([command]) => command)]
  if (waiting.length === 0) return false
  life.quitting = true
  let timer: NodeJS.Timeout | undefined
  // onSettled: no then() on the application's promises (its unhandled rejections stay its own).
  const settled = waiting.map((command) => new Promise<void>((resolve) => onSettled(command, () => resolve())))
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, client.options.connectTimeout ?? 2000)
  })
  return Promise.race([Promise.all(settled), bound]).then(() => {
    clearTimeout(timer)
    life.quitting = false
  })
}
