import type { Command, Redis } from 'ioredis'
import type { CommandKind } from '../command-kinds.js'
import { closingManually, onSettled, streamOf } from '../ioredis-internals.js'
import { TransactionGuard, WatchGuard } from '../transactions.js'

/**
 * One record of a client's connection, updated at one moment (as a command is written, as it is
 * answered, as the connection closes) and read by every feature: the fence, the transaction
 * guards, the health check, the idle timer, the session (MULTI, blocked, db, which commands are
 * ours) and the read gate (its epoch).
 *
 * - `epoch`: bumped as each connection closes; a reply judged against a connection compares it.
 * - `multi`: a `MULTI` of the application's is open on this connection (command by command, or
 *   ioredis' `multi()`, whose commands are written one by one too); `lostMulti`: one whose
 *   connection closed is still being refused (see {@link TransactionGuard}).
 * - `watching`: a `WATCH` is open (see {@link WatchGuard}).
 * - `blocked`: blocking commands (command-kinds.ts: BLPOP & co., XREAD, WAIT) written and not answered.
 * - `subscriber`: the connection is subscribed (RESP2 subscriber mode, or RESP3 with subscriptions).
 * - `db`: the db selected on it (its options' `db`, then each `SELECT` answered; one inside a
 *   `MULTI` counts once its `EXEC` is answered). The client's `options.db` follows it: the next
 *   connection (and what was sent while it opens) is in the same db. `dbNow`: the db a command
 *   written now runs in (`undefined` while a `SELECT`, or an `EXEC` with one, is not answered).
 * - `usable`: ready, its socket writable, not closing (`quit()`).
 * - `isOwn(command)`: twiceredis' own commands (health check, probes), never the application's.
 */
export class Connection {
  epoch = 0
  blocked = 0
  /** `quit()` was called: the client never connects again (unlike after `disconnect()`). */
  closedForGood = false
  db: number
  readonly transaction = new TransactionGuard(this)
  readonly watch = new WatchGuard(this)
  readonly #own = new WeakSet<Command>()
  /** Commands of ours not answered yet: with none (nearly always) `isOwn` is one check, no lookup. */
  #ownOpen = 0
  /** A `SELECT` written inside the open `MULTI`: the db once its `EXEC` is answered. */
  #pendingDb: number | undefined
  /** `SELECT`s (and `EXEC`s with one) written and not answered on this connection. */
  #selecting = 0

  constructor(private readonly client: Redis) {
    this.db = Number(client.options.db ?? 0)
  }

  /** The db a command written now runs in; `undefined` while a change of it is not answered (it may fail). */
  get dbNow(): number | undefined {
    return this.#selecting === 0 ? this.db : undefined
  }

  get multi(): boolean {
    return this.transaction.open
  }

  /** A `MULTI` is open and its `EXEC`/`DISCARD` not written yet: a command written now would be queued in it. */
  get queueing(): boolean {
    return this.transaction.queueing
  }

  get lostMulti(): boolean {
    return this.transaction.lost
  }

  get watching(): boolean {
    return this.watch.open
  }

  /**
   * Subscribed to a channel or pattern. Under RESP3 (ioredis 6's default) ioredis' `mode` stays
   * `normal` while subscribed (other commands still go): its subscription set says it.
   */
  get subscriber(): boolean {
    const condition = (this.client as unknown as { condition?: { subscriber?: unknown } }).condition
    return this.client.mode === 'subscriber' || Boolean(condition?.subscriber)
  }

  get usable(): boolean {
    const client = this.client
    return client.status === 'ready' && streamOf(client)?.writable === true && !closingManually(client)
  }

  /** A `MULTI`, a `WATCH` or a blocking command holds the connection: dropping it on purpose would lose it. */
  get holdsState(): boolean {
    return this.multi || this.watching || this.blocked > 0
  }

  /** Mark `command` as twiceredis' own. */
  own(command: Command): void {
    if (this.#own.has(command)) return
    this.#own.add(command)
    this.#ownOpen++
    // Answered (or rejected), it is never sent again: no command of the application's is ours.
    onSettled(command, () => {
      this.#ownOpen--
    })
  }

  isOwn(command: Command): boolean {
    return this.#ownOpen > 0 && this.#own.has(command)
  }

  /** The connection closed: what it held (transaction, watch, blocking commands, db) is gone. */
  closed(): void {
    this.epoch++
    this.blocked = 0
    this.#selecting = 0
    this.#pendingDb = undefined
    this.db = Number(this.client.options.db ?? 0)
  }

  /**
   * An application's command that changes its connection's state (`kind.state`, command-kinds.ts)
   * is written now (past the guards): follow what it changes.
   */
  written(command: Command, kind: CommandKind): void {
    const name = kind.name
    if (kind.blocking) {
      this.#blocking(command)
    } else if (name === 'select') {
      this.#select(command)
    } else if (name === 'exec' && this.#pendingDb !== undefined) {
      this.#exec(command, this.#pendingDb)
    } else if (name === 'multi' || name === 'discard') {
      this.#pendingDb = undefined // (a SELECT of a transaction discarded never runs)
    } else if (name === 'reset') {
      this.#pendingDb = undefined
      this.#changeDb(command, 0)
    }
  }

  /** A SELECT inside the MULTI counts once its EXEC ran (an array: not aborted by a WATCH). */
  #exec(command: Command, db: number): void {
    this.#pendingDb = undefined
    const epoch = this.epoch
    const { resolve } = command
    this.#selecting++
    command.resolve = (value: unknown) => {
      if (Array.isArray(value) && epoch === this.epoch) this.#selected(db)
      return resolve(value)
    }
    onSettled(command, () => {
      if (epoch === this.epoch) this.#selecting--
    })
  }

  #blocking(command: Command): void {
    const epoch = this.epoch
    this.blocked++
    onSettled(command, () => {
      if (epoch === this.epoch) this.blocked--
    })
  }

  #select(command: Command): void {
    const db = Number(command.args[0])
    if (this.multi) this.#pendingDb = db
    else this.#changeDb(command, db)
  }

  #changeDb(command: Command, db: number): void {
    const epoch = this.epoch
    this.#selecting++
    onSettled(command, (error) => {
      if (epoch !== this.epoch) return
      this.#selecting--
      if (!error) this.#selected(db)
    })
  }

  /**
   * The application's db is now `db`: the client's `options.db` follows it, because ioredis selects
   * `options.db` on every new connection and queues the commands sent while it reconnects with it
   * (they would run in the configured db, not the chosen one). A `duplicate()` starts in it too.
   */
  #selected(db: number): void {
    this.db = db
    this.client.options.db = db
  }
}

/** Clients of twiceredis' own (the session's line to the master): never write clients of the application's. */
const internal = new WeakSet<object>()

/** Mark `client` (before it connects) as ours: it never joins the write fence, nor emits its events. */
export function markInternal(client: object): void {
  internal.add(client)
}

export const isInternal = (client: object): boolean => internal.has(client)
