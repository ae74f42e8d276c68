import type { Command } from 'ioredis'
import { type CommandKind, kindOf } from '../command-kinds.js'
import { TokenUnavailableError } from '../errors.js'
import type { Emit } from '../events.js'
import { onSettled, streamOf } from '../ioredis-internals.js'
import { HeldWrites } from './held-writes.js'
import type { NodeHistories } from './histories.js'
import { MasterLine } from './master-line.js'
import { OffsetProbe, type Probing } from './offset-probe.js'
import { advance, formatToken, type Position, START, sameLine, UNREACHABLE } from './position.js'
import { type SendOwn, type SessionClient, type Stream, sendOwn } from './session-client.js'
import { failed, needed, type Writer } from './writer.js'

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
  /** The history each node was last seen on (the Resolver's), for positions from ROLE. */
  histories: NodeHistories
}

/** How long after a read that followed writes the ROLE keeps riding with writes. */
const EAGER_MS = 1000

/**
 * The read-your-writes state of one TwiceRedis, shared by its sides and their duplicates. With
 * `consistency: 'eventual'` it only serves tokens (`readAfter`); writes do not raise the floor.
 */
export class Session {
  /** Every write whose ROLE has answered is below this. */
  floor: Position = START
  master: SessionClient | undefined
  readonly #writers = new WeakMap<SessionClient, Writer>()
  /** Connections of the write side with writes no ROLE was sent behind yet. */
  readonly #written = new Set<SessionClient>()
  /** ROLEs in flight on the write side, with the first write each is behind. */
  readonly #roles = new Map<Promise<Position | undefined>, Command | undefined>()
  #everWritten = false
  /** Whether a read may ever wait here: with writes tracked, or once a token (read or written) raised the floor. */
  #holdsReads: boolean
  /** Until when ROLEs ride with the writes (reads followed writes lately). */
  #eagerUntil = 0
  #riding = false
  readonly #probe: OffsetProbe
  readonly #line = new MasterLine()
  readonly held = new HeldWrites() // writes the write fence holds: writeToken() waits for them
  /** Told of every master offset a `ROLE` on the master returned (`maxStalenessMs` keeps a history). */
  onMasterOffset: ((offset: number, master: string) => void) | undefined

  constructor(
    readonly options: SessionOptions,
    readonly emit: Emit,
  ) {
    this.#holdsReads = options.tracksWrites
    const send: SendOwn = (client, command, stream) => this.send(client, command, stream)
    this.#probe = new OffsetProbe(send, emit, options.histories)
  }

  /** How offsets are read (see {@link OffsetProbe}). */
  get probing(): Probing {
    return this.#probe.probing
  }

  /** Where `client`'s node is (`ROLE`, or `INFO replication`), or `undefined` if it does not say. */
  positionOf(client: SessionClient): Promise<Position | undefined> {
    return this.#probe.positionOf(client)
  }

  /**
   * Whether the read gate has anything to do: `false` under `'eventual'` until a token raises the
   * floor (`readAfter()`, `writeToken()`), so a read passes the gate with this one check.
   */
  get holdsReads(): boolean {
    return this.#holdsReads
  }

  get timeoutMs(): number {
    return this.options.timeoutMs
  }

  /** The db `master` is on (its connection record's), as the read side must be for a read to move there. */
  get masterDb(): number {
    return this.master?.connection.db ?? 0
  }

  /**
   * A command of the application's was sent on the write side (or a duplicate of it). What it
   * does to its connection (MULTI, blocking, db) the connection record follows as it is written;
   * here only whether it may write, and only when writes raise the floor.
   */
  sent(client: SessionClient, command: Command, kind: CommandKind = kindOf(command.name)): void {
    if (!this.options.tracksWrites || !kind.mayWrite || client.mode !== 'normal') return
    const w = this.#writer(client)
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
      answers.includes(UNREACHABLE)
        ? UNREACHABLE // one unanswered: the floor is unknown
        : answers.reduce<Position>((floor, at) => (at ? advance(floor, at) : floor), start),
    )
  }

  /**
   * One ROLE behind the writes of each written connection (the master's for one inside MULTI or
   * blocked: every acknowledged write is on the master). For a read (`acknowledged`), only where
   * a write is acknowledged: the others are no write the read must see, yet.
   */
  #askWritten(acknowledged = false, token = false): void {
    let anywhere = false
    let rebase = false
    let wrote = token
    for (const client of this.#written) {
      const w = this.#writer(client)
      if (acknowledged && !needed(w.first)) continue
      this.#written.delete(client)
      if (this.#carries(client)) this.#ask(client, w.rebase, w.first)
      else {
        anywhere = true
        rebase ||= w.rebase
        wrote ||= w.first !== undefined || w.rebase
      }
      w.rebase = false
      w.first = undefined
    }
    // An acknowledged write is below what the master answers on any connection after its ack.
    // (A master side never connected is not connected for a token read alone: the token's floor
    // holds; writeToken() asks.) One closed for good (quit()) is asked on the session's own line.
    const line = anywhere ? this.masterLine(true) : undefined
    if (line && (wrote || line.status !== 'wait')) this.#ask(line, rebase, undefined)
  }

  /**
   * Whether a ROLE on `client` would be answered now, as its connection record says: no MULTI
   * open, not blocked, not subscribed, and either usable or closed (the ROLE connects it, as any
   * command would). Not while it connects: what waits in its offline queue (a MULTI) is unknown.
   */
  #carries(client: SessionClient): boolean {
    const c = client.connection
    // (A MULTI whose EXEC is written is no obstacle: a ROLE behind the EXEC is answered after it.)
    if (c.queueing || c.blocked > 0 || client.mode !== 'normal') return false
    // Closed for good (quit()): a command sent now rejects CLIENT_CLOSED, it connects nothing.
    return c.usable || ((client.status === 'end' || client.status === 'wait') && !c.closedForGood)
  }

  /**
   * A connection to the master that takes a command of ours now: `master` (reconnecting it after
   * `disconnect()` or an idle timeout, as any command would), or while it is inside a MULTI,
   * blocked or subscribed, a duplicate of it the session opens and closes after `LINE_MS` unused
   * (never a command inside the application's MULTI or behind its BLPOP). After its `quit()`, `master`
   * (a read moved there rejects), but the line for the session's own ROLE (`own`): acknowledged writes are there.
   */
  masterLine(own = false): SessionClient | undefined {
    const master = this.master
    if (!master || this.#carries(master) || (master.connection.closedForGood && !own)) return master
    return this.#line.open(master, master.connection.db)
  }

  /** A token's position: reads see at least it; the next read asks the master where it is. */
  raise(token: Position): void {
    // Lower in the floor's history, or with a history unknown (ryw1): nothing new. (Another history
    // replaces the floor: the master is asked at the next read, and its answer replaces the token.)
    const other = token.history && this.floor.history && !sameLine(token, this.floor)
    if (token.offset <= this.floor.offset && !other) return
    this.#holdsReads = true
    this.floor = token
    const master = this.master
    if (master) this.#written.add(master)
  }

  /** The floor after every write sent on the write side so far, for another process. */
  async token(): Promise<string> {
    await this.held.settled()
    if (this.master) this.#written.add(this.master)
    this.#askWritten(false, true)
    // Every ROLE in flight, also behind writes not acknowledged yet: the token covers them.
    const floor = await this.floorNow(true)
    // Offsets unreadable (ROLE_DENIED said so): 0. Unanswered: no token leaving out acknowledged writes.
    if (floor === UNREACHABLE && this.probing !== 'none') throw new TokenUnavailableError()
    return formatToken(floor === UNREACHABLE ? START : floor)
  }

  /** A command of ours, sent past the hooks (see {@link sendOwn}). */
  send(client: SessionClient, command: Command, stream?: Stream): unknown {
    return sendOwn(client, command, stream)
  }

  #ask(client: SessionClient, rebase: boolean, first: Command | undefined): void {
    const answer = this.#positionOrLine(client).then((at) => {
      this.#roles.delete(answer)
      if (!at) {
        if (this.probing === 'none') return undefined
        // No answer: the floor is unknown, not 0. This read moves to the master (or rejects); the next asks again.
        const asked = (this.#line.has(client) && this.master) || client
        this.#written.add(asked)
        this.#writer(asked).rebase ||= rebase
        return UNREACHABLE
      }
      // Only a master's own answer (the node that answered, never whichever master resolved last).
      if (at.master !== undefined && at.master === client.node?.address) this.onMasterOffset?.(at.offset, at.master)
      const lower = rebase && sameLine(at, this.floor) && at.offset < this.floor.offset
      this.floor = lower ? at : advance(this.floor, at)
      // A floor above 0 (a token's ROLE, under 'eventual' too) holds this process' reads, as ever.
      if (this.floor.offset > 0) this.#holdsReads = true
      return at
    })
    this.#roles.set(answer, first)
  }

  /**
   * Where `client`'s node is; where its connection gives no answer (closed under it, its ROLE
   * flushed or timed out), the master's on the session's own line, asked after the ack.
   */
  async #positionOrLine(client: SessionClient): Promise<Position | undefined> {
    const at = await this.positionOf(client)
    const master = this.master
    if (at || this.probing === 'none' || this.#line.has(client) || !master) return at
    return this.positionOf(this.#line.open(master, master.connection.db))
  }

  #writer(client: SessionClient): Writer {
    let w = this.#writers.get(client)
    if (!w) {
      w = { rebase: false, first: undefined }
      this.#writers.set(client, w)
    }
    return w
  }
}
