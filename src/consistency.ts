import { exists, hasFlag } from '@ioredis/commands'
import { Command, type Redis } from 'ioredis'
import { InvalidOptionError, NoHealthyReplicaError, ReplicaBehindError, RoleDeniedError } from './errors.js'
import type { Emit, Target } from './events.js'
import { type CaughtReply, catchReply, rawReplyCopy, streamOf } from './ioredis-internals.js'
import { parseInfo } from './protocol/node-info.js'
import { text } from './protocol/reply.js'

/**
 * Read-your-writes through replication offsets.
 *
 * Every node counts the bytes of its replication stream: a master's offset grows with each write,
 * a replica's offset says how much of its master's stream it has applied. A write is visible on a
 * replica that follows the same master once the replica's offset reaches the master's offset
 * taken after the write (the floor).
 *
 * - The write side only marks a connection "written" (no command of ours: write-only traffic
 *   pays nothing). A read that follows acknowledged writes sends one `ROLE` on each such
 *   connection, ordered behind its writes: the floor of that read is what those answer (and ROLEs
 *   in flight behind acknowledged writes), never what writes still in flight or later raise it
 *   to. While reads keep following writes (the last second), the ROLE rides with each tick's
 *   writes instead, in the same socket write, so its answer is there when the read comes.
 * - A plain read of the keyspace (ioredis' command table: readonly, not blocking, not pub/sub) is
 *   sent at once on the read connection, behind a `ROLE` probe of the replica, its reply caught.
 *   If the probe shows the replica at the floor of the same master, that reply is used (one round
 *   trip, as usual); if not, it is dropped, and a copy of the read is tried again behind a new
 *   probe, or after `consistencyTimeoutMs` sent to the master (the only command that ever moves).
 * - Anything else (connection state, transactions, pub/sub, blocking commands, writes, reads
 *   inside MULTI or in another db) waits, in order and with its pipeline whole, until a probe shows
 *   the floor, and then goes to the read connection, as sent. Past the bound, what reads no data
 *   (connection state, pub/sub, writes, commands queued inside MULTI) goes all the same; what reads
 *   data there (EXEC, reads in another db, blocking reads, cursors, scripts) keeps waiting up to
 *   `holdMs`, and then rejects `REPLICA_BEHIND`: it never reads below its floor.
 * - Reads while the replica is known to be at the floor go straight through.
 */

/** Where a node is: its replication offset, and the master (`host:port`) whose stream it counts. */
export interface Position {
  offset: number
  /** `undefined` for a token from another process (it names no master). */
  master: string | undefined
}

const START: Position = { offset: 0, master: undefined }

/** The position a `ROLE` reply gives for a node at `self` (a master names no one else). */
export function rolePosition(reply: unknown, self: string | undefined): Position | undefined {
  if (!Array.isArray(reply)) return undefined
  if (reply[0] === 'master') return position(reply[1], self)
  // A replica not connected to its master says -1: behind any floor.
  if (reply[0] === 'slave') return position(reply[4], `${text(reply[1])}:${text(reply[2])}`, -1)
  return undefined
}

/** The same from `INFO replication` (for a user who may not run ROLE). */
export function infoPosition(info: Record<string, string>, self: string | undefined): Position | undefined {
  if (info.role === 'master') return position(info.master_repl_offset, self)
  if (info.role === 'slave') return position(info.slave_repl_offset, `${info.master_host}:${info.master_port}`)
  return undefined
}

function position(offset: unknown, master: string | undefined, min = 0): Position | undefined {
  const n = Number(text(offset) || Number.NaN)
  return Number.isSafeInteger(n) && n >= min ? { offset: n, master } : undefined
}

/** The offset in a `ROLE` reply of a master or a replica (`undefined` for one not connected). */
export function roleOffset(reply: unknown): number | undefined {
  const offset = rolePosition(reply, undefined)?.offset
  return offset === undefined || offset < 0 ? undefined : offset
}

/**
 * The floor after a master answered `at`: the later offset in the same history; another master's
 * answer replaces it (a failover: a new history), and so does any master's answer to a token's
 * floor (the master has every acknowledged write, so a token beyond it is from lost writes or
 * another history and would otherwise hold every read until the timeout).
 */
export function advance(floor: Position, at: Position): Position {
  return floor.master === at.master && floor.offset >= at.offset ? floor : at
}

/**
 * Whether a replica at `at` has every write below `floor`, and (monotonic reads) at least what the
 * previous connection of the read side showed (`seen`), when it follows the same master.
 */
export function fresh(at: Position | undefined, floor: Position, seen?: Position): boolean {
  if (seen && seen.offset > 0 && (!at || (seen.master === at.master && at.offset < seen.offset))) return false
  if (floor.offset === 0) return true
  if (!at || (floor.master !== undefined && at.master !== floor.master)) return false
  return at.offset >= floor.offset
}

/** Cursor reads: their cursor only means something on the node that gave it. */
const cursors = new Set(['scan', 'sscan', 'hscan', 'zscan'])

/**
 * A plain read of the keyspace, the only kind of command the gate may send to the master: ioredis'
 * command table says readonly, and it is neither blocking nor pub/sub (nor a cursor).
 */
export function isPlainRead(name: string): boolean {
  const n = name.toLowerCase()
  return exists(n) && hasFlag(n, 'readonly') && !hasFlag(n, 'blocking') && !hasFlag(n, 'pubsub') && !cursors.has(n)
}

/** Commands not flagged read-only that read data all the same (on a replica, a script may only read). */
const readsToo = new Set(['exec', 'eval', 'evalsha', 'fcall', 'sort'])

/**
 * Whether a command on the read side reads data: it must not run on a replica below its floor.
 * Connection state, pub/sub and writes (a replica refuses them) read none; unknown names may.
 */
export function readsData(name: string): boolean {
  const n = name.toLowerCase()
  if (!exists(n)) return true
  return (hasFlag(n, 'readonly') && !hasFlag(n, 'pubsub')) || readsToo.has(n)
}

/** Commands that change no data: no ROLE is needed for a read after them. */
const notWrites = new Set([
  'ping',
  'echo',
  'select',
  'client',
  'info',
  'role',
  'time',
  'auth',
  'hello',
  'multi',
  'discard',
  'watch',
  'unwatch',
  'quit',
  'reset',
])

/** Whether a command on the master side may write (anything not known to be a read). */
export function mayWrite(name: string): boolean {
  const n = name.toLowerCase()
  return !notWrites.has(n) && !(exists(n) && hasFlag(n, 'readonly'))
}

/** What the write side and the read gate need to know of a command name, worked out once per name. */
interface Kind {
  name: string
  write: boolean
  blocking: boolean
  /** MULTI, EXEC, DISCARD or RESET: opens or ends a transaction. */
  transaction: boolean
  /** See {@link isPlainRead}. */
  plainRead: boolean
  /** See {@link readsData}. */
  readsData: boolean
}

const kinds = new Map<string, Kind>()

function kindOf(name: string): Kind {
  let kind = kinds.get(name)
  if (!kind) {
    const n = name.toLowerCase()
    kind = {
      name: n,
      write: mayWrite(n),
      blocking: exists(n) && hasFlag(n, 'blocking'),
      transaction: n === 'multi' || n === 'exec' || n === 'discard' || n === 'reset',
      plainRead: isPlainRead(n),
      readsData: readsData(n),
    }
    // Names come from the application's code (call() may send any): a bound all the same.
    if (kinds.size < 1000) kinds.set(name, kind)
  }
  return kind
}

const TOKEN = /^ryw1:(0|[1-9]\d{0,15})$/

/** A token for the state after a write, to carry to another process: `ryw1:<offset>`. */
export function formatToken(offset: number): string {
  return `ryw1:${offset}`
}

/** The offset in a token from {@link formatToken}; `INVALID_OPTION` for anything else. */
export function parseToken(token: unknown): number {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null
  const offset = Number(match?.[1] ?? Number.NaN)
  if (!Number.isSafeInteger(offset)) {
    throw new InvalidOptionError('token', 'a token from `await tr.writeToken()` ("ryw1:<offset>")')
  }
  return offset
}

type Stream = Parameters<Redis['sendCommand']>[1]

/** The side clients as the session sees them. */
export interface SessionClient extends Redis {
  readonly node: Target | undefined
  /** Send past twiceredis' own hooks (ioredis' `sendCommand`). */
  sendDirect(command: Command, stream?: Stream): unknown
  /** Metrics, told which client served a read that moved. */
  metrics?: { written(command: Command, client: never): void } | undefined
}

/** What the session knows of one connection of the write side. */
interface Writer {
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

/** Writes that failed: settled, so no longer a reason to wait before asking behind them. */
const failed = new WeakSet<Command>()

/**
 * Whether the ROLE behind `first` is one a read issued now must wait for: it covers a write that
 * is acknowledged (or failed). ioredis sets `isResolved` as it resolves a command, before any
 * `await` on it resumes, also for a command the write fence held and sent later.
 */
const needed = (first: Command | undefined) => !first || first.isResolved || failed.has(first)

/** How replication offsets are read: `ROLE`, `INFO replication` when ROLE is refused, or not at all. */
type Probing = 'role' | 'info' | 'none'

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
  probing: Probing = 'role'
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
  #denial: Promise<void> | undefined
  /** Told of every master offset a `ROLE` on the master returned (`maxStalenessMs` keeps a history). */
  onMasterOffset: ((offset: number) => void) | undefined

  constructor(
    readonly options: SessionOptions,
    readonly emit: Emit,
  ) {}

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
      else
        command.promise.then(
          () => this.#selected(client, db),
          () => {},
        )
    }
    if (!kind.write || !this.options.tracksWrites || client.mode !== 'normal') return
    if (kind.blocking && !this.#blocking.has(command)) {
      this.#blocking.add(command)
      w.blocked++
      const done = () => {
        w.blocked--
      }
      command.promise.then(done, done)
    }
    if (!w.first) {
      w.first = command
      command.promise.catch(() => failed.add(command))
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
    command.promise.then(
      (results) => {
        if (client && Array.isArray(results)) this.#selected(client, db)
      },
      () => {},
    )
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
  floorNow(): Position | Promise<Position> {
    if (this.#written.size > 0) {
      this.#eagerUntil = Date.now() + EAGER_MS
      this.#askWritten(true)
    }
    if (this.probing === 'none' && (this.#everWritten || this.floor.offset > 0)) return UNREACHABLE
    const waits: Promise<Position | undefined>[] = []
    for (const [answer, first] of this.#roles) if (needed(first)) waits.push(answer)
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
    for (const client of this.#written) {
      const w = this.#writer(client)
      if (acknowledged && !needed(w.first)) continue
      this.#written.delete(client)
      if (w.inMulti || w.blocked > 0 || !usable(client)) anywhere = true
      else this.#ask(client, w.rebase, w.first)
      w.rebase = false
      w.first = undefined
    }
    const master = this.master
    if (anywhere && master && usable(master) && !this.#writer(master).inMulti && !this.#writer(master).blocked) {
      this.#ask(master, false, undefined)
    }
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
    const floor = await this.floorNow()
    return formatToken(floor === UNREACHABLE ? 0 : floor.offset)
  }

  /** A command of ours, sent past the hooks. */
  send(client: SessionClient, command: Command, stream?: Stream): unknown {
    this.#own.add(command)
    return client.sendDirect(command, stream)
  }

  /** Where `client`'s node is (`ROLE`, or `INFO replication`), or `undefined` if it does not say. */
  async positionOf(client: SessionClient): Promise<Position | undefined> {
    const self = client.node?.address
    if (this.probing === 'none') return undefined
    const probing = this.probing
    const command =
      probing === 'role'
        ? new Command('role', [], { replyEncoding: 'utf8' })
        : new Command('info', ['replication'], { replyEncoding: 'utf8' })
    try {
      const reply = await (this.send(client, command) as Promise<unknown>)
      return probing === 'role' ? rolePosition(reply, self) : infoPosition(parseInfo(String(reply)), self)
    } catch (error) {
      if (!/NOPERM|unknown command/i.test((error as Error).message ?? '')) return undefined
      this.#denial ??= this.#denied(client, error as Error, probing)
      await this.#denial
      return this.positionOf(client)
    }
  }

  /** A node refused ROLE (or INFO): say so once, and use what is left. */
  async #denied(client: SessionClient, error: Error, probing: Probing): Promise<void> {
    if (probing === 'role') {
      this.probing = 'info'
      const info = await (this.send(client, new Command('info', ['replication'])) as Promise<unknown>).catch(
        (e: Error) => e,
      )
      if (info instanceof Error && /NOPERM|unknown command/i.test(info.message)) this.probing = 'none'
    } else {
      this.probing = 'none'
    }
    const address = client.node?.address ?? 'a data node'
    const fallback = this.probing === 'info' ? 'info' : 'master'
    this.emit(
      'error',
      Object.assign(new RoleDeniedError(address, fallback, { cause: error }), { side: 'master' as const }),
    )
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

/** The floor when offsets cannot be read at all (no ROLE, no INFO): no replica reaches it. */
const UNREACHABLE: Position = { offset: Number.MAX_SAFE_INTEGER, master: undefined }

/** A command the gate took, until its fate is settled. */
interface Entry {
  command: Command
  stream: Stream | undefined
  floor: Position | Promise<Position>
  /** May be served by the master (a plain read, in the db the master is on, outside MULTI). */
  plain: boolean
  /** Reads data (not only queued inside MULTI): never sent below its floor. */
  reads: boolean
  deadline: number
  /** Until when a command that reads data waits past `deadline` before it rejects. */
  holdUntil: number
  /** Sent on the read connection with its reply caught (plain reads), or still held. */
  caught?: CaughtReply
}

/** Where a replica that could not show a floor was. */
interface Behind {
  floor: Position | undefined
  at: Position | undefined
  waitedMs: number
}

/** Why a replica at `at` does not show `floor`, for an event or an error. */
function behindReason(session: Session, floor: Position | undefined, at: Position | undefined): string {
  return !floor
    ? 'the master did not confirm the writes'
    : session.probing === 'none'
      ? 'replication offsets cannot be read (ROLE_DENIED)'
      : !at
        ? 'no answer'
        : floor.master !== undefined && at.master !== floor.master
          ? `follows ${at.master}, the writes were on ${floor.master}`
          : at.offset < 0
            ? 'not connected to its master'
            : `${floor.offset - at.offset} bytes behind`
}

/** Resolves with `work`, or with `undefined` once `deadline` (a `Date.now()`) has passed. */
function within<T>(work: Promise<T> | T, deadline: number): Promise<T | undefined> {
  if (!(work instanceof Promise)) return Promise.resolve(work)
  let timer: NodeJS.Timeout | undefined
  const passed = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), undefined)
  })
  return Promise.race([work, passed]).finally(() => clearTimeout(timer))
}

/** A pause of `ms`; none at all for 0 (a timer would add a millisecond). */
const sleep = (ms: number) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve())

/**
 * The gate in front of one read client: it keeps the order of the commands it takes, never splits
 * a pipeline, and moves nothing but a plain read; see the module comment.
 */
export class ReadGate {
  /** Taken and not yet settled, in order. */
  #queue: Entry[] = []
  #admitting = false
  #pumping = false
  /** What the last probe of the current connection answered. */
  #confirmed: Position | undefined
  /** What the previous connection was last seen at (monotonic reads across a reconnect). */
  #seen: Position | undefined
  /** A probe sent this event-loop turn: a read sent after it may use its answer. */
  #probe: Promise<Position | undefined> | undefined
  /** The state of the read connection as the commands taken so far leave it. */
  #inMulti = false
  #db: number
  /** Plain reads sent with their reply caught, in case ioredis sends them again after a reconnect. */
  readonly #caught = new WeakSet<Command>()

  constructor(
    private readonly session: Session,
    private readonly replica: SessionClient,
  ) {
    this.#db = replica.options.db ?? 0
  }

  /** The read client lost its connection: the node it reaches next has not been checked. */
  disconnected(): void {
    this.#seen = this.#confirmed ?? this.#seen
    this.#confirmed = undefined
    this.#probe = undefined
    this.#inMulti = false
  }

  /** Whether a `MULTI` taken here is still open (its `EXEC` or `DISCARD` not taken yet). */
  get inMulti(): boolean {
    return this.#inMulti
  }

  /** Whether the gate takes `command` (it will send it); `false`: send it as usual. */
  take(command: Command, stream: Stream): boolean {
    const { session, replica } = this
    // ioredis sends again what a lost connection left unanswered: its probe went first again.
    if (session.isOwn(command) || this.#caught.has(command)) return false
    const { name, plainRead, readsData } = kindOf(command.name)
    const plain = plainRead && !this.#inMulti && this.#db === session.masterDb
    const reads = readsData && (!this.#inMulti || name === 'exec')
    this.#track(name, command)
    if (this.#queue.length === 0) {
      // While ioredis connects it sends its own handshake and queues ours; it sends the queued
      // ones through here again once ready. (Behind commands held here, a command waits its turn.)
      if (replica.status !== 'ready') return false
      if (replica.mode !== 'normal') return false
      // On the node the write side is on: nothing to check. (On another master, e.g. the one a
      // failover replaced, still up: checked like a replica, and its history is not the writes'.)
      if (replica.node?.role === 'master' && replica.node.address === session.master?.node?.address) return false
      const floor = session.floorNow()
      if (!(floor instanceof Promise) && fresh(this.#confirmed, floor, this.#seen)) return false
    }
    const floor = session.floorNow()
    const now = Date.now()
    const deadline = now + session.timeoutMs
    this.#queue.push({ command, stream, floor, plain, reads, deadline, holdUntil: now + session.options.holdMs })
    // A pipeline sends all its commands in one synchronous loop: decide once it has.
    if (!this.#admitting) {
      this.#admitting = true
      queueMicrotask(() => {
        this.#admitting = false
        void this.#pump()
      })
    }
    return true
  }

  /** What the commands sent so far leave the connection in. */
  #track(name: string, command: Command): void {
    if (name === 'multi') this.#inMulti = true
    else if (name === 'exec' || name === 'discard') this.#inMulti = false
    else if (name === 'select') this.#db = Number(command.args[0])
    else if (name === 'reset') {
      this.#inMulti = false
      this.#db = 0
    }
  }

  /**
   * Send what may go: plain reads at once (their replies caught), anything else once every command
   * before it is settled and the replica is at its floor (or the bound has passed). A pipeline
   * goes whole, in one synchronous loop (ioredis writes it once its last command is sent).
   */
  async #pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      for (let i = 0; i < this.#queue.length; ) {
        const group = this.#group(i)
        if (group.every((e) => e.caught)) {
          i += group.length
          continue
        }
        if (group.every((e) => e.plain)) {
          this.#sendGroup(group)
          i += group.length
          continue
        }
        if (i > 0) return // wait for every command before it (their settling pumps again)
        const behind = await this.#waitFresh(group)
        if (behind) this.#reject(group, behind)
        else this.#sendGroup(group)
        i = 0
      }
    } finally {
      this.#pumping = false
    }
  }

  /** The entry at `i` and the ones after it of the same pipeline. */
  #group(i: number): Entry[] {
    const first = this.#queue[i]!
    let end = i + 1
    if (first.stream) while (this.#queue[end]?.stream === first.stream) end++
    return this.#queue.slice(i, end)
  }

  /**
   * Until the replica shows the floor of every entry of `group` (`undefined`: send it). Past the
   * first bound, a group that reads no data goes all the same; one that does keeps waiting up to
   * its `holdUntil`, and then says where the replica was.
   */
  async #waitFresh(group: Entry[]): Promise<Behind | undefined> {
    const first = Math.min(...group.map((e) => e.deadline))
    const reads = group.some((e) => e.reads)
    const last = reads ? Math.min(...group.map((e) => e.holdUntil)) : first
    if (this.session.probing === 'none') return undefined
    let floors: Position[] | undefined
    let at = this.#confirmed
    for (let attempt = 0; Date.now() < last; attempt++) {
      floors = await within(Promise.all(group.map((e) => e.floor)), last)
      if (!floors) break
      if (floors.every((f) => fresh(this.#confirmed, f, this.#seen))) return undefined
      // A client closed for good: ioredis rejects what is sent on it.
      if (this.replica.status === 'end') return undefined
      const answer = await within(this.#probeNow(), last)
      if (floors.every((f) => fresh(answer, f, this.#seen))) return undefined
      if (!reads && (answer === undefined || Date.now() >= first)) return undefined
      at = answer ?? at
      await sleep(pause(attempt))
    }
    if (!reads) return undefined
    const floor = floors?.reduce((a, b) => (b.offset > a.offset ? b : a))
    return { floor, at, waitedMs: Date.now() - (first - this.session.timeoutMs) }
  }

  /**
   * The replica did not show the floor of `group` (which reads data and cannot move) in time: it
   * is not sent; its commands reject. An EXEC whose MULTI went before is answered by a DISCARD of
   * ours, so the connection leaves the transaction.
   */
  #reject(group: Entry[], { floor, at, waitedMs }: Behind): void {
    const address = this.replica.node?.address ?? 'the read side'
    const reason = behindReason(this.session, floor, at)
    for (const e of group) {
      this.#remove(e)
      e.command.reject(new ReplicaBehindError(address, reason, waitedMs))
    }
    const names = group.map((e) => e.command.name.toLowerCase())
    if (names.includes('exec') && !names.includes('multi')) {
      const discard = new Command('discard')
      ;(this.session.send(this.replica, discard) as Promise<unknown>).catch(() => {})
    }
  }

  /** Send `group` on the read connection as it was sent: plain reads behind a probe, replies caught. */
  #sendGroup(group: Entry[]): void {
    const { replica } = this
    // One socket write for the probe and the group: a write costs more than the bytes of a ROLE.
    const stream = replica.status === 'ready' ? streamOf(replica) : undefined
    stream?.cork()
    const probe = group.some((e) => e.plain) ? this.#probeNow() : undefined
    for (const e of group) {
      if (e.plain) {
        e.caught = catchReply(e.command)
        this.#caught.add(e.command)
        replica.sendDirect(e.command, e.stream)
        void this.#settle(e, probe!)
      } else {
        this.#remove(e)
        replica.sendDirect(e.command, e.stream)
      }
    }
    stream?.uncork()
  }

  /**
   * A plain read went out behind `probe`: use its reply if the probe shows the floor; if not, try
   * a copy behind a new probe, until the bound, then serve it from the master.
   */
  async #settle(e: Entry, probe: Promise<Position | undefined>): Promise<void> {
    const caught = e.caught!
    const [floor, at] = await Promise.all([within(e.floor, e.deadline), within(probe, e.deadline)])
    if (floor && fresh(at, floor, this.#seen)) {
      caught.deliver()
      return this.#done(e)
    }
    let last = at
    for (let attempt = 0; floor && last && Date.now() < e.deadline; attempt++) {
      // Another history, or no link to its master: no wait helps.
      if ((floor.master !== undefined && last.master !== floor.master) || last.offset < 0) break
      await sleep(pause(attempt))
      const { copy, reply } = rawReplyCopy(e.command)
      const next = this.#probeNow()
      this.session.send(this.replica, copy)
      const answer = await within(next, e.deadline)
      if (fresh(answer, floor, this.#seen)) {
        caught.settle(await reply)
        return this.#done(e)
      }
      last = answer ?? last
      if (answer === undefined) break
    }
    this.#move(e, floor, last)
  }

  /** The replica could not show the floor: the read goes to the master (or fails, without readFallback). */
  #move(e: Entry, floor: Position | undefined, at: Position | undefined): void {
    const { session } = this
    const replica = this.replica.node?.address
    const reason = behindReason(session, floor, at)
    const master = session.master
    if (!session.options.readFallback) {
      const error = new NoHealthyReplicaError(session.options.masterName, [
        { address: replica ?? 'the read side', reason: `not at the session's floor: ${reason}` },
      ])
      e.caught!.settle({ ok: false, error })
    } else if (master) {
      const waited = Date.now() - (e.deadline - session.timeoutMs)
      session.emit('read-from-master', { replica, reason, waitedMs: waited })
      const { copy, reply } = rawReplyCopy(e.command)
      session.send(master, copy)
      master.metrics?.written(e.command, master as never) // served by the master, for `twiceredis.reads`
      void reply.then((r) => {
        // quit() closed the master side meanwhile: the read came before it, and is not a command
        // after quit(); the replica could not show the floor, which is what it reports.
        if (!r.ok && (r.error as { code?: string }).code === 'CLIENT_CLOSED') {
          const error = new ReplicaBehindError(
            replica ?? 'the read side',
            `${reason}; the master side was closed`,
            waited,
          )
          return e.caught!.settle({ ok: false, error })
        }
        e.caught!.settle(r)
      })
    } else {
      e.caught!.settle({ ok: false, error: new Error('Connection is closed.') })
    }
    this.#done(e)
  }

  #done(e: Entry): void {
    this.#remove(e)
    void this.#pump()
  }

  #remove(e: Entry): void {
    const i = this.#queue.indexOf(e)
    if (i >= 0) this.#queue.splice(i, 1)
  }

  /** A probe of the replica, shared by every read sent after it in this event-loop turn. */
  #probeNow(): Promise<Position | undefined> {
    if (this.#probe) return this.#probe
    const probe = this.session.positionOf(this.replica).then((at) => {
      if (at) this.#confirmed = at
      return at
    })
    this.#probe = probe
    setImmediate(() => {
      if (this.#probe === probe) this.#probe = undefined
    })
    return probe
  }
}

/** Between tries of a replica just behind: none for the first three, then growing to 20 ms. */
function pause(attempt: number): number {
  return attempt < 3 ? 0 : Math.min(2 ** (attempt - 3), 20)
}
