/**
 * The application's `WATCH` on one side, followed as its commands go out.
 *
 * Redis forgets a `WATCH` with the connection it was sent on, and ioredis reconnects without a word
 * (twiceredis also moves a side on failover), so an `EXEC` after a reconnect would run unguarded:
 * the optimistic lock silently gone, a concurrent update lost (ioredis #1686). Here such a
 * transaction is aborted as Redis aborts one whose watched key changed: its `EXEC` goes out as a
 * `DISCARD` and resolves `null`, which a WATCH retry loop already handles.
 */
export class WatchGuard {
  /** A `WATCH` was sent and no `EXEC`, `DISCARD`, `UNWATCH` or `RESET` since. */
  #open = false
  /** The connection on which a `WATCH` of the open set was answered. */
  #watchedOn: number | undefined
  /** Counts connections. */
  #connection = 0
  /** A `MULTI` went out after the `WATCH` was lost: its `EXEC` is aborted. */
  #abort = false

  /** A `WATCH` is open: dropping the connection on purpose would lose it. */
  get open(): boolean {
    return this.#open
  }

  /** The connection closed: what it watched is gone. */
  closed(): void {
    this.#connection++
  }

  /**
   * What to do with a command the application sends (its name, any case): send it (a `WATCH`:
   * and call {@link answered} on its reply), or abort the transaction it ends.
   */
  next(name: string): 'send' | 'watch' | 'abort' {
    if (name.length > 7) return 'send'
    const n = name.toLowerCase()
    if (n === 'watch') {
      this.#open = true
      return 'watch'
    } else if (n === 'multi') this.#abort ||= this.#lost
    else if (n === 'exec' || n === 'discard' || n === 'unwatch' || n === 'reset') {
      const abort = n === 'exec' && this.#abort
      this.#open = false
      this.#watchedOn = undefined
      this.#abort = false
      if (abort) return 'abort'
    }
    return 'send'
  }

  /** A `WATCH` was answered on the current connection. */
  answered(): void {
    if (this.#open) this.#watchedOn ??= this.#connection
  }

  get #lost(): boolean {
    return this.#watchedOn !== undefined && this.#watchedOn !== this.#connection
  }
}
