import type { Command } from 'ioredis'

/** What the session knows of one connection of the write side (its MULTI, blocking commands and db: its connection record). */
export interface Writer {
  /** Reconnected: its next answer may lower the floor (writes lost in a failover). */
  rebase: boolean
  /** The first write since its last ROLE (`isResolved` once acknowledged), if any. */
  first: Command | undefined
}

/** Writes that failed: settled, so no longer a reason to wait before asking behind them. */
export const failed = new WeakSet<Command>()

/**
 * Whether the ROLE behind `first` is one a read issued now must wait for: it covers a write that
 * is acknowledged (or failed). ioredis sets `isResolved` as it resolves a command, before any
 * `await` on it resumes, also for a command the write fence held and sent later.
 */
export const needed = (first: Command | undefined) => !first || first.isResolved || failed.has(first)
