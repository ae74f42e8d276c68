import type { Command, Redis } from 'ioredis'
import { kindOf } from '../command-kinds.js'
import type { Emit } from '../events.js'
import { closingManually, onSettled, streamOf } from '../ioredis-internals.js'
import { MasterLine } from './master-line.js'
import { OffsetProbe, type Probing } from './offset-probe.js'
import { advance, formatToken, type Position, START, UNREACHABLE } from './position.js'
import type { SessionClient, Stream } from './session-client.js'
import { failed, needed, onReply, type Writer } from './writer.js'

/**
 * Read-your-writes: the floor, what the write side's connections have written.
 *
 * The write side only marks a connection "written" (no command of ours: write-only traffic pays
 * nothing). A read that follows acknowledged writes sends one `ROLE` on each such connection,
 * ordered behind its writes: the floor of that read is what those answer (and ROLEs in flight
 * behind acknowledged writes), never what writes still in flight or later raise it to. Where the
 * connection cannot carry the ROLE (MULTI open, blocked, closed), the master is asked on another
 * connection after the ack (`masterLine()`): its answer is at least the write's position. While
 * reads keep following writes (the last second), the ROLE rides with each tick's writes instead,
 * in the same socket write, so its answer is there when the read comes. The read side's gate
 * (read-gate.ts) holds reads until a replica shows the floor.
 */

export interface SessionOptions {
  /** `consistency: 'session'`: writes raise the floor (otherwise only tokens do). */
  tracksWrites: boolean
  timeoutMs: number
  /** How long a command that reads data but cannot move waits for the replica (`connectTimeoutMs`). */
  holdMs: number
  readFallback: boolean
  masterName: string
}

/** How long after a read that followed writes the ROLE keeps riding with writes. */
const EAGER_MS = 1000

const usable = (client: Redis) => client.status !== 'end' && client.status !== 'wait' && client.mode === 'normal'

/**
 * The read-your-writes state of one TwiceRedis, shared by its sides and their duplicates. With
 * `consistency: 'eventual'` it only serves tokens (`readAfter`); writes do not raise the floor.
 */
export class Session {
  /** Every write whose ROLE has answered is below this. */
  floor: Position = START
  master: SessionClient | undefined
  /** The db `master` is on, as the read side must be for a read to move there. */
  masterDb = 0
  readonly #writers = new WeakMap<SessionClient, Writer>()
  /** Connections of the write side with writes no ROLE was sent behind yet. */
  readonly #written = new Set<SessionClient>()
  /** ROLEs in flight on the write side, with the first write each is behind. */
  readonly #roles = new Map<Promise<Position | undefined>, Command | undefined>()
  /** Commands of ours (probes, ROLEs, copies): not the application's. */
  readonly #own = new WeakSet<Command>()
  /** Blocking commands counted (ioredis sends them again after a reconnect). */
  readonly #blocking = new WeakSet<Command>()
  #everWritten = false
  /** Until when ROLEs ride with the writes (reads followed writes lately). */
  #eagerUntil = 0
  #riding = false
  readonly #probe: OffsetProbe
  readonly #line = new MasterLine()
  /** Told of every master offset a `ROLE` on the master returned (`maxStalenessMs` keeps a history). */
  onMasterOffset: ((offset: number) => void) | undefined

  constructor(
    readonly options: SessionOptions,
    readonly emit: Emit,
  ) {
    this.#probe = new OffsetProbe((client, command, stream) => this.send(client, command, stream), emit)
  }

  /** How offsets are read (see {@link OffsetProbe}). */
  get probing(): Probing {
    return this.#probe.probing
  }

  /** Where `client`'s node is (`ROLE`, or `INFO replication`), or `undefined` if it does not say. */
  positionOf(client: SessionClient): Promise<Position | undefined> {
    return this.#probe.positionOf(client)
  }

  get timeoutMs(): number {
    return this.options.timeoutMs
  }

  isOwn(command: Command): boolean {
    return this.#own.has(command)
  }

  /** A command of the application was sent on the write side (or a duplicate of it). */
  sent(client: SessionClient, command: Command): void {
    if (this.#own.has(command)) return
    const kind = kindOf(command.name)
    const w = this.#writer(client)
    if (kind.transaction) {
      if (client === this.master) this.#transactionDb(w, kind.name, command)
      w.inMulti = kind.name === 'multi'
      if (kind.name === 'multi') return
    }
    if (kind.name === 'select' && client === this.master) {
      // The db the master side is on once the SELECT has run: on its reply, or on its EXEC.
      const db = Number(command.args[0])
      if (w.inMulti) w.pendingDb = db
      else onSettled(command, (error) => error || this.#selected(client, db))
    }
    // A ROLE behind a blocking command (a write or not: XREAD BLOCK) would wait as long.
    // (onSettled, never a then() on the application's promise: its rejections stay its own.)
    if (kind.blocking && !this.#blocking.has(command)) {
      this.#blocking.add(command)
      w.blocked++
      onSettled(command, () => {
        w.blocked--
      })
    }
    if (!kind.mayWrite || !this.options.tracksWrites || client.mode !== 'normal') return
    if (!w.first) {
      w.first = command
      onSettled(command, (error) => error && failed.add(command))
    }
    this.#written.add(client)
    this.#everWritten = true
    if (this.#eagerUntil > 0 && !this.#riding) {
      if (Date.now() < this.#eagerUntil) this.#ride(client)
      else this.#eagerUntil = 0
    }
  }

  /**
   * While reads follow writes, the ROLE rides with the writes of this tick, in the same socket
   * write (corked until it is sent): its answer arrives with theirs, so a read after them finds
   * its floor known or on its way (no round trip of its own). Write-only traffic never gets here.
   */
  #ride(client: SessionClient): void {
    this.#riding = true
    const stream = client.status === 'ready' ? streamOf(client) : undefined
    stream?.cork()
    queueMicrotask(() => {
      this.#riding = false
      this.#askWritten()
      if (stream) queueMicrotask(() => stream.uncork())
    })
  }

  #selected(client: SessionClient, db: number): void {
    if (client === this.master) this.masterDb = db
  }

  /** A SELECT queued inside MULTI takes effect with its EXEC, and not with a DISCARD. */
  #transactionDb(w: Writer, name: string, command: Command): void {
    const db = w.pendingDb
    w.pendingDb = undefined
    if (name !== 'exec' || db === undefined) return
    const client = this.master
    onReply(command, (results) => {
      if (client && Array.isArray(results)) this.#selected(client, db)
    })
  }

  /** A write-side connection closed: no MULTI is open on it any more (ioredis may send it again). */
  closed(client: SessionClient): void {
    this.#writer(client).inMulti = false
    this.#writer(client).pendingDb = undefined
  }

  /**
   * A write-side connection is ready (first connect or reconnect): if it reached a master behind
   * the floor, writes were lost in a failover: its next answer lowers it.
   */
  connected(client: SessionClient): void {
    if (this.#line.has(client)) return
    const w = this.#writer(client)
    if (!this.options.tracksWrites && this.floor.offset === 0) return
    w.rebase = true
    this.#written.add(client)
  }

  /**
   * The floor a read issued now must see. Sends a ROLE behind the writes of each written
   * connection (the master's, when that connection is inside MULTI or blocked: every write
   * acknowledged so far is on the master). A value when nothing is in flight, else a promise.
   */
  floorNow(all = false): Position | Promise<Position> {
    if (this.#written.size > 0 && !all) {
      this.#eagerUntil = Date.now() + EAGER_MS
      this.#askWritten(true)
    }
    if (this.probing === 'none' && (this.#everWritten || this.floor.offset > 0)) return UNREACHABLE
    const waits: Promise<Position | undefined>[] = []
    for (const [answer, first] of this.#roles) if (all || needed(first)) waits.push(answer)
    if (waits.length === 0) return this.floor
    const start = this.floor
    return Promise.all(waits).then((answers) =>
      answers.reduce<Position>((floor, at) => (at ? advance(floor, at) : floor), start),
    )
  }

  /**
   * One ROLE behind the writes of each written connection (the master's for one inside MULTI or
   * blocked: every acknowledged write is on the master). For a read (`acknowledged`), only where
   * a write is acknowledged: the others are no write the read must see, yet.
   */
  #askWritten(acknowledged = false): void {
    let anywhere = false
    let rebase = false
    let wrote = false
    for (const client of this.#written) {
      const w = this.#writer(client)
      if (acknowledged && !needed(w.first)) continue
      this.#written.delete(client)
      if (this.#carries(client) && usable(client)) this.#ask(client, w.rebase, w.first)
      else {
        anywhere = true
        rebase ||= w.rebase
        wrote ||= w.first !== undefined || w.rebase
      }
      w.rebase = false
      w.first = undefined
    }
    // An acknowledged write is below what the master answers on any connection after its ack.
    // (A master side never connected is not connected for a token alone: the token's floor holds.)
    const line = anywhere ? this.masterLine() : undefined
    if (line && (wrote || line.status !== 'wait')) this.#ask(line, rebase, undefined)
  }

  /** Whether a ROLE on `client` would be answered now (no MULTI open, not blocked, not subscribed). */
  #carries(client: SessionClient): boolean {
    const w = this.#writer(client)
    return !w.inMulti && w.blocked === 0 && client.mode === 'normal'
  }

  /**
   * A connection to the master that takes a command of ours now: `master` (reconnecting it after
   * `disconnect()` or an idle timeout, as any command would), or while it is inside a MULTI,
   * blocked or subscribed, a duplicate of it the session opens and closes after `LINE_MS` unused
   * (never a command inside the application's MULTI or behind its BLPOP).
   */
  masterLine(): SessionClient | undefined {
    const master = this.master
    if (!master || this.#carries(master)) return master
    return this.#line.open(master, this.masterDb)
  }

  /** A token's offset: reads see at least it; the next read asks the master where it is. */
  raise(offset: number): void {
    if (offset <= this.floor.offset) return
    this.floor = { offset, master: undefined }
    const master = this.master
    if (master) this.#written.add(master)
  }

  /** The floor after every write sent on the write side so far, for another process. */
  async token(): Promise<string> {
    if (this.master) this.#written.add(this.master)
    this.#askWritten()
    // Every ROLE in flight, also behind writes not acknowledged yet: the token covers them.
    const floor = await this.floorNow(true)
    return formatToken(floor === UNREACHABLE ? 0 : floor.offset)
  }

  /** A command of ours, sent past the hooks. */
  send(client: SessionClient, command: Command, stream?: Stream): unknown {
    this.#own.add(command)
    // Ours on the connection record too: a command that waited (ioredis' offline queue, a reconnect,
    // a disconnect()) comes back through sendCommand, where only the record tells ours apart; else
    // it is guarded as the application's (a ROLE refused as the rest of a lost MULTI ends it).
    client.connection?.own(command)
    // disconnect() called, the socket still closing: the client's own path holds the command and
    // sends it over the next connection (written on the closing one, it would fail).
    if (client.status !== 'end' && closingManually(client)) return client.sendCommand(command, stream)
    return client.sendDirect(command, stream)
  }

  #ask(client: SessionClient, rebase: boolean, first: Command | undefined): void {
    const answer = this.positionOf(client).then((at) => {
      this.#roles.delete(answer)
      if (!at) return undefined
      this.onMasterOffset?.(at.offset)
      const lower = rebase && at.master === this.floor.master && at.offset < this.floor.offset
      this.floor = lower ? at : advance(this.floor, at)
      return at
    })
    this.#roles.set(answer, first)
  }

  #writer(client: SessionClient): Writer {
    let w = this.#writers.get(client)
    if (!w) {
      w = { inMulti: false, blocked: 0, rebase: false, first: undefined }
      this.#writers.set(client, w)
    }
    return w
  }
}
