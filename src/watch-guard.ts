/** What to do with a command about to be written (see {@link WatchGuard.written}). */
export interface Written {
  /** An `EXEC` whose `WATCH` was lost: write a `DISCARD` in its place and answer it `null`. */
  abort: boolean
  /** Call with the command's outcome once it is answered. */
  reply?: ((ok: boolean) => void) | undefined
}

const SEND: Written = { abort: false }

/**
 * The application's `WATCH` on one side, followed as its commands are written.
 *
 * Redis forgets a `WATCH` with the connection it was sent on, and ioredis reconnects without a word
 * (twiceredis also moves a side on failover), so an `EXEC` written on a later connection would run
 * unguarded: the optimistic lock silently gone, a concurrent update lost (ioredis #1686). ioredis
 * even writes a whole transaction again on the next connection when the first one closed before
 * answering it. Here a transaction whose `MULTI` is written on another connection than the one that
 * answered its `WATCH` is aborted as Redis aborts one whose watched key changed: its `EXEC` goes out
 * as a `DISCARD` and answers `null`, which a WATCH retry loop already handles (it reads again and,
 * if the first `EXEC` did run, sees what it wrote).
 *
 * A `WATCH` ends when an `EXEC`, `DISCARD`, `UNWATCH` or `RESET` written after it is answered (not
 * when it is written: one written on a connection that closes before answering leaves the `WATCH`
 * in force for what ioredis sends again).
 */
export class WatchGuard {
  /** A `WATCH` was written and nothing since ended it. */
  #open = false
  /** The connection on which a `WATCH` of the open set was answered. */
  #watchedOn: number | undefined
  /** Counts connections. */
  #connection = 0
  /** Counts `WATCH`es written: an end answered after a later `WATCH` ends nothing. */
  #watches = 0
  /** A `MULTI` was written on a connection that does not hold the `WATCH`: its `EXEC` is aborted. */
  #abort = false

  /** A `WATCH` is open: dropping the connection on purpose would lose it. */
  get open(): boolean {
    return this.#open
  }

  /** The connection closed: what it watched is gone. */
  closed(): void {
    this.#connection++
  }

  /** A command of the application's (its name, any case) is about to be written. */
  written(name: string): Written {
    if (name.length > 7) return SEND
    const n = name.toLowerCase()
    if (n === 'watch') {
      this.#open = true
      const watches = ++this.#watches
      const connection = this.#connection
      return {
        abort: false,
        reply: (ok) => {
          if (ok && this.#watches === watches) this.#watchedOn ??= connection
        },
      }
    }
    if (n === 'multi') {
      this.#abort ||= this.#watchedOn !== undefined && this.#watchedOn !== this.#connection
      return SEND
    }
    if (n === 'exec' && this.#abort) {
      this.#clear()
      return { abort: true }
    }
    if (n === 'exec' || n === 'discard' || n === 'unwatch' || n === 'reset') {
      const watches = this.#watches
      return {
        abort: false,
        reply: () => {
          if (this.#watches === watches) this.#clear()
        },
      }
    }
    return SEND
  }

  #clear(): void {
    this.#open = false
    this.#watchedOn = undefined
    this.#abort = false
  }
}
