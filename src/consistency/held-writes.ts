import type { Command } from 'ioredis'
import { onSettled } from '../ioredis-internals.js'

/**
 * Writes the write fence holds on the write side (and its duplicates): sent by the application,
 * not yet on any connection, so no ROLE can be asked behind them. `writeToken()` covers every
 * write sent on `tr.master` so far: it waits until these settle (the fence releases them to the
 * new master, or they reject), as the session waits for the ROLE behind writes in flight. Bounded
 * by the fence (`failoverFenceMs`, `commandTimeout`, `quit()`).
 */
export class HeldWrites {
  readonly #held = new Map<Command, Promise<void>>()

  add(command: Command): void {
    // onSettled: no then() on the application's promise (its unhandled rejections stay its own).
    const settled = new Promise<void>((resolve) => onSettled(command, () => resolve()))
    this.#held.set(command, settled)
    void settled.then(() => this.#held.delete(command))
  }

  /** Once every write held now has settled (at once when none is held). */
  async settled(): Promise<void> {
    if (this.#held.size > 0) await Promise.all(this.#held.values())
  }
}
