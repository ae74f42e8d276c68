import { Command, type Redis } from 'ioredis'
import { InvalidOptionError } from './errors.js'
import type { Emit, Target } from './events.js'
import { rawReplyCopy, streamOf } from './ioredis-internals.js'
import { text } from './topology.js'

/**
 * Read-your-writes through replication offsets.
 *
 * Every node counts the bytes of its replication stream: a master's `master_repl_offset` grows
 * with each write, a replica's offset says how much of that stream it has applied. A write is
 * visible on a replica once the replica's offset reaches the master's offset taken after it.
 *
 * - After commands on the master side, one `ROLE` is sent on the same connection, right behind
 *   them (one per tick, never inside MULTI): its offset is the {@link Session.floor} that later
 *   reads must see. It rides with the writes, so it costs no round trip of its own.
 * - A read while the replica is not known to have reached the floor is sent speculatively,
 *   behind a `ROLE` probe of the replica, on the replica connection: one round trip, as usual.
 *   If the probe shows the replica had reached the floor, the read's reply is used; if not, it is
 *   discarded, and the read waits for the replica (probing it again) or, after
 *   `consistencyTimeoutMs`, goes to the master.
 * - Reads while the replica is known to be at the floor go straight through: after one write, a
 *   burst of reads pays for the check once.
 */

/** What a `ROLE` reply says the node's replication offset is. */
export function roleOffset(reply: unknown): number | undefined {
  if (!Array.isArray(reply)) return undefined
  const offset = Number(
    text(reply[0] === 'master' ? reply[1] : reply[0] === 'slave' ? reply[4] : undefined) || Number.NaN,
  )
  return Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined
}

const TOKEN = /^ryw1:(\d{1,16})$/

/** A token for the state after a write, to carry to another process: `ryw1:<offset>`. */
export function formatToken(offset: number): string {
  return `ryw1:${offset}`
}

/** The offset in a token from {@link formatToken}; `INVALID_OPTION` for anything else. */
export function parseToken(token: unknown): number {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null
  if (!match) throw new InvalidOptionError('token', 'a token from `await tr.writeToken()` ("ryw1:<offset>")')
  return Number(match[1])
}

/** Where a read may go now: straight to the replica, or through the check. */
export function mayReadDirectly(s: { floor: number; pending: boolean; confirmed: number }): boolean {
  return !s.pending && (s.floor === 0 || s.floor <= s.confirmed)
}

/** Commands that change the connection rather than read data: never sent speculatively. */
const connectionCommands = new Set([
  'auth',
  'hello',
  'select',
  'client',
  'quit',
  'reset',
  'monitor',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'readonly',
  'readwrite',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
])

type Stream = Parameters<Redis['sendCommand']>[1]

/** Hold the writes of `client` to its socket until the returned function is called: one write for several commands. */
function cork(client: Redis): () => void {
  const stream = client.status === 'ready' ? streamOf(client) : undefined
  stream?.cork()
  return () => stream?.uncork()
}

/** Resolves once `client` is ready. */
function ready(client: Redis): Promise<void> {
  return client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve()))
}

/** A bound on serving one batch of reads: `race()` gives `undefined` once it has passed. */
interface Deadline {
  readonly started: number
  race<T>(work: Promise<T>): Promise<T | undefined>
  left(): number
  clear(): void
}

function deadline(ms: number): Deadline {
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  const passed = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined)
  })
  return {
    started,
    race: (work) => Promise.race([work, passed]),
    left: () => started + ms - Date.now(),
    clear: () => clearTimeout(timer),
  }
}

/** The side clients as the session sees them. */
export interface SessionClient extends Redis {
  readonly node: Target | undefined
  /** Send past twiceredis' own hooks (ioredis' `sendCommand`). */
  sendDirect(command: Command, stream?: Stream): unknown
  connectIfIdle(): void
}

/**
 * The read-your-writes state of one TwiceRedis, shared by its sides and their duplicates. With
 * `consistency: 'eventual'` it only serves tokens (`readAfter`); writes do not raise the floor.
 */
export class Session {
  /** The replication offset every read must see. */
  floor = 0
  /** `ROLE`s on the master in flight (the floor is about to rise), and who waits for them. */
  #inflight = 0
  #waiters: (() => void)[] = []
  #roleScheduled = false
  #inMulti = false
  /** Commands of ours (probes, ROLEs) and reads sent to the master for freshness: not writes. */
  readonly #own = new WeakSet<Command>()
  master: SessionClient | undefined

  constructor(
    readonly tracksWrites: boolean,
    readonly timeoutMs: number,
    readonly emit: Emit,
  ) {}

  get pending(): boolean {
    return this.#inflight > 0
  }

  isOwn(command: Command): boolean {
    return this.#own.has(command)
  }

  /** A command was sent on the master side (or a duplicate of it): it counts as a write. */
  sent(client: SessionClient, command: Command): void {
    if (!this.tracksWrites || this.#own.has(command) || client.mode !== 'normal') return
    if (command.name === 'multi') this.#inMulti = true
    else if (command.name === 'exec' || command.name === 'discard') this.#inMulti = false
    if (this.#roleScheduled) return
    this.#roleScheduled = true
    // One ROLE right behind the commands of this tick, on the same connection, in the same
    // write to the socket (a write costs more than the few bytes of a ROLE).
    const uncork = cork(client)
    const done = new Promise<void>((resolve) =>
      queueMicrotask(() => {
        this.#roleScheduled = false
        queueMicrotask(uncork)
        if (this.#inMulti || client.mode !== 'normal') {
          resolve() // after EXEC, the next command schedules it
          return
        }
        this.#role(client).then(resolve, resolve)
      }),
    )
    this.#track(done)
  }

  /** Raise the floor to the master's offset now (a token, or a new read connection). */
  catchUpWithMaster(): void {
    const master = this.master
    if (master) this.#track(this.#role(master))
  }

  /**
   * The write side reached a master over a new connection. If that master is behind the floor,
   * writes were lost in a failover: no node will ever show them, so the floor comes down to what
   * the new master has (reads would otherwise all go to the master, late).
   */
  rebase(master: SessionClient): void {
    if (!this.tracksWrites && this.floor === 0) return
    this.#track(
      this.offsetOf(master).then((offset) => {
        if (offset !== undefined && offset < this.floor) this.floor = offset
      }),
    )
  }

  /** The floor at the end of every write sent so far, for another process: {@link formatToken}. */
  async token(): Promise<string> {
    const master = this.master
    if (master) await this.#role(master)
    return formatToken(this.floor)
  }

  raise(offset: number): void {
    this.floor = Math.max(this.floor, offset)
  }

  /** Resolves once no ROLE on the master is in flight. */
  settled(): Promise<void> {
    return this.#inflight === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** A command of ours, sent past the hooks. */
  send(client: SessionClient, command: Command, stream?: Stream): unknown {
    this.#own.add(command)
    return client.sendDirect(command, stream)
  }

  /** A read that could not be served fresh by the replica goes to the master instead. */
  toMaster(command: Command): void {
    const master = this.master
    if (!master) command.reject(new Error('Connection is closed.'))
    else this.send(master, command)
  }

  /** The replication offset `client`'s node reports (`ROLE`), or `undefined` if it does not answer one. */
  offsetOf(client: SessionClient): Promise<number | undefined> {
    const command = new Command('role', [], { replyEncoding: 'utf8' })
    return (this.send(client, command) as Promise<unknown>).then(roleOffset, () => undefined)
  }

  async #role(client: SessionClient): Promise<void> {
    const offset = await this.offsetOf(client)
    if (offset !== undefined) this.raise(offset)
  }

  #track(work: Promise<void>): void {
    this.#inflight++
    void work.then(() => {
      if (--this.#inflight > 0) return
      for (const resolve of this.#waiters.splice(0)) resolve()
    })
  }
}

/**
 * The gate in front of one read client: holds reads (in order) while the replica is not known to
 * have reached the session's floor, and serves them as the module comment says.
 */
export class ReadGate {
  #held: [Command, Stream][] = []
  #draining = false
  /** The highest offset the replica of the current connection was seen at; -1 after a reconnect. */
  #confirmed = -1

  constructor(
    private readonly session: Session,
    private readonly replica: SessionClient,
  ) {}

  /**
   * The read client lost its connection: whatever node it reaches next has not been checked, and
   * (monotonic reads) must have at least what this one may have shown, which the master has.
   */
  disconnected(): void {
    this.#confirmed = -1
    if (this.session.tracksWrites) this.session.catchUpWithMaster()
  }

  /** Whether the gate takes `command` (it will send it); `false`: send it as usual. */
  take(command: Command, stream: Stream): boolean {
    const { floor, pending } = this.session
    const fresh = mayReadDirectly({ floor, pending, confirmed: this.#confirmed })
    if (this.#held.length === 0 && fresh) return false // nothing to wait for: no cost
    if (this.session.isOwn(command) || command.name === 'quit') return false
    // While ioredis connects it sends its own handshake (AUTH, SELECT, the ready check) and
    // queues ours; it sends the queued ones through here again once ready.
    const status = this.replica.status
    if (status !== 'ready' && status !== 'wait' && status !== 'end') return false
    if (this.#held.length === 0 && this.#nothingToCheck()) return false
    this.#held.push([command, stream])
    if (!this.#draining) void this.#drain()
    return true
  }

  /** A subscriber or monitor connection, or reads already on the master: there is nothing to check. */
  #nothingToCheck(): boolean {
    return this.replica.mode !== 'normal' || this.replica.node?.role === 'master'
  }

  async #drain(): Promise<void> {
    this.#draining = true
    try {
      while (this.#held.length) {
        const batch = this.#held.splice(0)
        const bound = deadline(this.session.timeoutMs)
        try {
          await this.#serve(batch, bound)
        } finally {
          bound.clear()
        }
      }
    } finally {
      this.#draining = false
    }
  }

  async #serve(batch: [Command, Stream][], bound: Deadline): Promise<void> {
    const { session, replica } = this
    const direct = () => {
      for (const [command, stream] of batch) session.send(replica, command, stream)
    }
    if (replica.status !== 'ready') {
      replica.connectIfIdle()
      await bound.race(ready(replica))
      if ((replica.status as string) !== 'ready') return this.#toMaster(batch, bound, 'no connection')
    }
    if (replica.node?.role === 'master') return direct()
    if (!session.pending && this.#confirmed >= session.floor) return direct()
    // Each try carries the reads, speculatively, right behind a probe of the replica (the first
    // one while the floor, a ROLE on the master, settles). A replica just behind is tried again
    // at once (each try is a round trip), then with a growing pause, until the bound.
    const speculative = batch.every(([c]) => !connectionCommands.has(c.name))
    /** What the replica said last, to say why the read went elsewhere. */
    let offset: number | undefined
    for (let attempt = 0; ; attempt++) {
      const clones = speculative ? batch.map(([c]) => rawReplyCopy(c)) : []
      const uncork = cork(replica)
      const probe = this.#probe()
      for (const clone of clones) session.send(replica, clone.copy)
      uncork()
      if (session.pending) await bound.race(session.settled())
      if (session.pending) return this.#toMaster(batch, bound, 'the master did not confirm the write')
      const answer = await bound.race(probe)
      offset = answer ?? offset
      if (answer !== undefined && answer >= session.floor) {
        this.#confirmed = Math.max(this.#confirmed, answer)
        if (!speculative) return direct()
        for (const [i, [command]] of batch.entries()) void clones[i]!.reply.then((deliver) => deliver(command))
        return
      }
      const pauseMs = attempt < 3 ? 0 : Math.min(2 ** (attempt - 3), 20)
      if (answer === undefined || bound.left() <= pauseMs) break
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs))
    }
    const reason = offset === undefined ? 'no answer' : `${session.floor - offset} bytes behind`
    this.#toMaster(batch, bound, reason)
  }

  #toMaster(batch: [Command, Stream][], bound: Deadline, reason: string): void {
    const replica = this.replica.node?.address
    this.session.emit('read-from-master', { replica, reason, waitedMs: Date.now() - bound.started })
    for (const [command] of batch) this.session.toMaster(command)
  }

  #probe(): Promise<number | undefined> {
    return this.session.offsetOf(this.replica)
  }
}
