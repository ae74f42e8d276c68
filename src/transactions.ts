import type { CommandKind } from './command-kinds.js'

/**
 * Which connection of a client is open now: the client's connection record (see
 * client/connection.ts) counts them; a guard made alone (unit tests) counts on its own.
 */
export interface Epoch {
  readonly epoch: number
}

class Counter implements Epoch {
  epoch = 0
}

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
  readonly #epoch: Epoch
  /** Counts `WATCH`es written: an end answered after a later `WATCH` ends nothing. */
  #watches = 0
  /** A `MULTI` was written on a connection that does not hold the `WATCH`: its `EXEC` is aborted. */
  #abort = false

  constructor(epoch: Epoch = new Counter()) {
    this.#epoch = epoch
  }

  get #connection(): number {
    return this.#epoch.epoch
  }

  /** A `WATCH` is open: dropping the connection on purpose would lose it. */
  get open(): boolean {
    return this.#open
  }

  /** The connection closed: what it watched is gone. (A guard over a client's record reads its epoch instead.) */
  closed(): void {
    if (this.#epoch instanceof Counter) this.#epoch.epoch++
  }

  /** A command of the application's (its kind, command-kinds.ts) is about to be written. */
  written(kind: CommandKind): Written {
    // Only commands that change the connection's state (WATCH, MULTI, EXEC, ...) change anything.
    if (!kind.state) return SEND
    const n = kind.name
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

  /** A transaction was refused whole (see {@link TransactionGuard}): its `WATCH` ends with it. */
  clear(): void {
    this.#clear()
  }

  #clear(): void {
    this.#open = false
    this.#watchedOn = undefined
    this.#abort = false
  }
}

const SENT = { refuse: false } as const

/**
 * The application's `MULTI` sent command by command, followed as its commands are written.
 *
 * Redis discards a transaction with the connection it was opened on. ioredis then writes what
 * follows on the next connection, where it runs alone, outside any transaction, and the `EXEC`
 * fails: half a transaction applied. Here every command of the application's written on another
 * connection than the open `MULTI`'s is refused instead (`TRANSACTION_ABORTED`), up to and including
 * its `EXEC` or `DISCARD` (a `RESET` ends it and goes). A `MULTI` written again (ioredis resends one
 * left unanswered) opens it afresh there. twiceredis' own commands (health check, probes, `ROLE`)
 * are never the transaction's: they are not brought here.
 *
 * The transaction ends when its `EXEC`, `DISCARD` or `RESET` is answered (one written on a
 * connection that closed before answering it is written again), or when the application abandons
 * it: the refusals cover what is written together with the first refused command, in the same
 * synchronous run (the rest of a pipeline, calls made in a row without awaiting, what ioredis
 * writes again on the new connection in one flush), and the transaction ends at the first
 * microtask after it, queued before the refused command is rejected. So whatever the application
 * sends in reaction to the rejection (after an `await`, in a `.catch`) is its own command, run as
 * sent (an `EXEC` then gets Redis' `ERR EXEC without MULTI`): a write it makes on giving up (a log
 * line, a compensation) is not refused. Nothing of the lost transaction is applied either way.
 */
export class TransactionGuard {
  /** The connection the open `MULTI` was written on. */
  #multiOn: number | undefined
  readonly #epoch: Epoch
  /** Counts `MULTI`s written: an end answered after a later `MULTI` ends nothing. */
  #multis = 0
  /** Counts ends and `MULTI`s: the abandonment queued for a transaction ends no later one. */
  #generation = 0
  /** The end of the refused transaction is queued (at its first refusal). */
  #abandoning = false
  /** The open `MULTI`'s `EXEC` or `DISCARD` is written (its answer not read yet). */
  #endWritten = false
  /** The commands written inside the open `MULTI` (between it and its end), by identity. */
  #members = new WeakSet<object>()

  constructor(epoch: Epoch = new Counter()) {
    this.#epoch = epoch
  }

  get #connection(): number {
    return this.#epoch.epoch
  }

  /** A `MULTI` was written on this connection and its end not answered yet. */
  get open(): boolean {
    return this.#multiOn === this.#connection
  }

  /** A `MULTI` is open on this connection and its `EXEC`/`DISCARD` not written: what is written now is queued in it. */
  get queueing(): boolean {
    return this.open && !this.#endWritten
  }

  /** A `MULTI` is open, here or lost with an earlier connection: every command must come by. */
  get active(): boolean {
    return this.#multiOn !== undefined
  }

  /** A transaction whose connection was lost is still refused (its end not seen yet). */
  get lost(): boolean {
    return this.#multiOn !== undefined && this.#multiOn !== this.#connection
  }

  /** The connection closed. (A guard over a client's record reads its epoch instead.) */
  closed(): void {
    if (this.#epoch instanceof Counter) this.#epoch.epoch++
  }

  /**
   * A command of the application's is about to be written: `refuse` it, or send it. `dropping`:
   * the connection is closing (its socket destroyed, its close not yet seen), so the command can
   * only go on the next one. `abandoned` runs when a refused transaction ends without its end.
   * `command`: the command itself, to know one written again (ioredis resends) from a new one.
   */
  written(
    kind: CommandKind,
    dropping = false,
    abandoned?: () => void,
    command?: object,
  ): { refuse: boolean; reply?: (() => void) | undefined } {
    // No transaction: only a MULTI changes anything.
    if (this.#multiOn === undefined && !kind.transaction) return SENT
    const n = kind.name
    const connection = dropping ? this.#connection + 1 : this.#connection
    if (n === 'multi') {
      this.#end()
      this.#multiOn = connection
      this.#endWritten = false
      this.#members = new WeakSet()
      this.#multis++
      return { refuse: false }
    }
    const ends = n === 'exec' || n === 'discard' || n === 'reset'
    if (this.#multiOn !== undefined && this.#multiOn !== connection) {
      // Once the end is written, what was not queued in the transaction is not of it: a command
      // written before the MULTI that ioredis writes again (`reconnectOnError` returning 2) runs as
      // it would have. One queued in it never runs alone.
      if (this.#endWritten && !ends && command && !this.#members.has(command)) return { refuse: false }
      if (ends) this.#end()
      else this.#refused(abandoned)
      // RESET leaves no transaction open on any connection: it goes.
      return { refuse: n !== 'reset' }
    }
    if (!ends || this.#multiOn === undefined) {
      if (command && this.#multiOn !== undefined && !this.#endWritten) this.#members.add(command)
      return { refuse: false }
    }
    this.#endWritten = true
    const multis = this.#multis
    return {
      refuse: false,
      reply: () => {
        if (this.#multis === multis) this.#multiOn = undefined
      },
    }
  }

  /** Called before the refused command is rejected: the end runs before anything reacting to it. */
  #refused(abandoned?: () => void): void {
    if (this.#abandoning) return
    this.#abandoning = true
    const generation = this.#generation
    queueMicrotask(() => {
      if (this.#generation !== generation) return
      this.#end()
      abandoned?.()
    })
  }

  #end(): void {
    this.#generation++
    this.#abandoning = false
    this.#multiOn = undefined
  }
}
