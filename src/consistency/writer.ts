import type { Command } from 'ioredis'

/** What the session knows of one connection of the write side. */
export interface Writer {
  inMulti: boolean
  /** Blocking commands in flight: a ROLE behind them would wait as long. */
  blocked: number
  /** Reconnected: its next answer may lower the floor (writes lost in a failover). */
  rebase: boolean
  /** The first write since its last ROLE (`isResolved` once acknowledged), if any. */
  first: Command | undefined
  /** A SELECT queued inside the open MULTI (it takes effect with EXEC). */
  pendingDb?: number | undefined
}

/**
 * Call `replied` with the raw reply of `command` as ioredis resolves it (see `onSettled`: no
 * then() on the application's promise, whose unhandled rejections must stay unhandled).
 */
export function onReply(command: Command, replied: (value: unknown) => void): void {
  const { resolve } = command
  command.resolve = (value: unknown) => {
    replied(value)
    return resolve(value)
  }
}

/** Writes that failed: settled, so no longer a reason to wait before asking behind them. */
export const failed = new WeakSet<Command>()

/**
 * Whether the ROLE behind `first` is one a read issued now must wait for: it covers a write that
 * is acknowledged (or failed). ioredis sets `isResolved` as it resolves a command, before any
 * `await` on it resumes, also for a command the write fence held and sent later.
 */
export const needed = (first: Command | undefined) => !first || first.isResolved || failed.has(first)
