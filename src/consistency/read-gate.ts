import { Command } from 'ioredis'
import { type CommandKind, kindOf } from '../command-kinds.js'
import { ReplicaBehindError } from '../errors.js'
import { type Entry, least, PlainReads } from './plain-reads.js'
import type { Position } from './position.js'
import { type Behind, behindReason, pause, ReplicaCheck, sleep, within } from './replica-check.js'
import type { Session } from './session.js'
import type { SessionClient, Stream } from './session-client.js'

/**
 * The gate in front of one read client: reads see the session's floor (read-your-writes).
 *
 * - A plain read of the keyspace (command-kinds.ts: readonly, not blocking, not pub/sub, not a
 *   cursor) is sent at once on the read connection, behind a `ROLE` probe of the replica, its
 *   reply caught. If the probe shows the replica at the floor of the same master, that reply is
 *   used (one round trip, as usual); if not, it is dropped, and a copy of the read is tried again
 *   behind a new probe, or after `consistencyTimeoutMs` sent to the master (the only command that
 *   ever moves). See plain-reads.ts.
 * - Anything else (connection state, transactions, pub/sub, blocking commands, writes, reads
 *   inside MULTI or in another db) waits, in order and with its pipeline whole, until a probe shows
 *   the floor, and then goes to the read connection, as sent. Past the bound, what reads no data
 *   (connection state, pub/sub, writes, commands queued inside MULTI) goes all the same; what reads
 *   data there (EXEC, reads in another db, blocking reads, cursors, scripts) keeps waiting up to
 *   `holdMs`, and then rejects `REPLICA_BEHIND`: it never reads below its floor (at once when
 *   offsets cannot be read at all).
 * - Reads while the replica is known to be at the floor go straight through.
 *
 * It keeps the order of the commands it takes, never splits a pipeline, and looks at each command
 * a bounded number of times (O(n) for a pipeline of n): the queue is walked by a cursor.
 */
export class ReadGate {
  /** Taken in order; entries before `#head` are done, entries from `#next` on are not sent yet. */
  #queue: Entry[] = []
  #head = 0
  #next = 0
  /** Entries taken and not done. */
  #open = 0
  /** Plain reads sent with their reply caught, not settled yet. */
  #inFlight = 0
  #admitting = false
  /** The floor of the commands taken in this turn (one `floorNow()` per batch, not per command). */
  #batchFloor: Position | Promise<Position> | undefined
  #pumping = false
  /** The command at the cursor waits for the plain reads in flight before it (nothing to pump till then). */
  #blocked = false
  /** The read connection's state as the commands taken leave it (its record's while none is unsent). */
  #inMulti = false
  #db: number | undefined
  readonly #check: ReplicaCheck
  readonly #plain: PlainReads

  constructor(
    private readonly session: Session,
    private readonly replica: SessionClient,
  ) {
    this.#check = new ReplicaCheck(session, replica)
    this.#plain = new PlainReads(session, replica, this.#check, (e) => this.#done(e))
  }

  /** The read client lost its connection: the node it reaches next has not been checked. */
  disconnected(): void {
    this.#check.disconnected()
    this.#inMulti = false
  }

  /** Commands taken and not settled: the connection is not idle. */
  get holding(): boolean {
    return this.#open > 0
  }

  /** Whether the gate takes `command` (it will send it); `false`: send it as usual. */
  take(command: Command, stream: Stream, kind: CommandKind = kindOf(command.name)): boolean {
    const { session, replica } = this
    // (Commands of ours never get here: the client's path sends them past every stage.)
    // Nothing to hold, ever ('eventual', no token read after).
    if (!session.holdsReads) return false
    // ioredis sends again what a lost connection left unanswered, to a node no probe checked.
    const resent = this.#plain.entryOf(command)
    if (resent) return this.#resent(resent)
    if (this.#next === this.#queue.length) {
      // Nothing taken here is unsent: the connection is as its record says (written, answered).
      this.#inMulti = this.replica.connection.queueing
      this.#db = this.replica.connection.dbNow
    }
    const { name, plainRead, readsData } = kind
    const plain = plainRead && !this.#inMulti && this.#db === session.masterDb
    const reads = readsData && (!this.#inMulti || name === 'exec')
    if (kind.state) this.#track(name, command)
    if (this.#open === 0) {
      // While ioredis connects it sends its own handshake and queues ours; it sends the queued
      // ones through here again once ready. (Behind commands held here, a command waits its turn.)
      if (replica.status !== 'ready') return false
      if (replica.mode !== 'normal') return false
      // On the node the write side is on: nothing to check. (On another master, e.g. the one a
      // failover replaced, still up: checked like a replica, and its history is not the writes'.)
      if (replica.node?.role === 'master' && replica.node.address === session.master?.node?.address) {
        this.#check.servedByMaster()
        return false
      }
      const floor = session.floorNow()
      if (!(floor instanceof Promise) && this.#check.knownFresh(floor)) return false
      this.#batchFloor = floor
    }
    // Every command of a batch (a pipeline, an autopipelined tick) was issued after the same writes.
    this.#batchFloor ??= session.floorNow()
    const now = Date.now()
    const deadline = now + session.timeoutMs
    const holdUntil = now + session.options.holdMs
    // ioredis starts `commandTimeout` as it writes a command: one held here is bounded from now.
    const timeout = replica.options.commandTimeout
    if (typeof timeout === 'number') command.setTimeout(timeout) // (ioredis' own call then starts none)
    this.#queue.push({ command, stream, floor: this.#batchFloor, plain, reads, taken: now, deadline, holdUntil })
    this.#open++
    // A pipeline sends all its commands in one synchronous loop: decide once it has.
    if (!this.#admitting) {
      this.#admitting = true
      queueMicrotask(() => {
        this.#admitting = false
        this.#batchFloor = undefined
        void this.#pump()
      })
    }
    return true
  }

  /**
   * A plain read ioredis sends again after a reconnect. Its probe vouched for the connection it
   * went on, not this one: not sent as it is; a copy is checked on this connection (or the read
   * moves), unless its fate is settled already (then its reply is dropped: send it as usual), or
   * it was never written (it waited for a connection behind its probe, which checks this one).
   */
  #resent(e: Entry): boolean {
    if (e.unwritten || (e.done && !e.delivered)) {
      e.unwritten = false
      return false
    }
    if (e.delivered) {
      e.delivered = false
      e.done = false
      this.#open++
      this.#inFlight++
      this.#plain.recheck(e)
    }
    return true
  }

  /** What the commands taken and not sent yet leave the connection in. */
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
      while (this.#next < this.#queue.length) {
        this.#compact()
        // Plain groups in a row go behind one probe.
        let end = this.#next
        for (let g = this.#groupEnd(end); end < this.#queue.length && this.#allPlain(end, g); g = this.#groupEnd(g)) {
          end = g
        }
        if (end > this.#next) {
          const entries = this.#queue.slice(this.#next, end)
          this.#inFlight += entries.length
          this.#next = end
          this.#plain.send(entries)
          continue
        }
        // Wait for every command before it (the last of them to settle pumps again).
        this.#blocked = this.#inFlight > 0
        if (this.#blocked) return
        const group = this.#queue.slice(this.#next, this.#groupEnd(this.#next))
        const behind = await this.#waitFresh(group)
        this.#next += group.length
        if (behind) this.#reject(group, behind)
        else this.#sendHeld(group)
      }
    } finally {
      this.#pumping = false
    }
  }

  /** Drop the done entries at the front, once they are many (indices move only here). */
  #compact(): void {
    while (this.#head < this.#next && this.#queue[this.#head]!.done) this.#head++
    if (this.#head < 1024 || this.#head * 2 < this.#queue.length) return
    this.#queue = this.#queue.slice(this.#head)
    this.#next -= this.#head
    this.#head = 0
  }

  /** The end of the pipeline the entry at `i` is in. */
  #groupEnd(i: number): number {
    const first = this.#queue[i]
    let end = i + 1
    if (first?.stream) while (this.#queue[end]?.stream === first.stream) end++
    return end
  }

  #allPlain(from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (!this.#queue[i]!.plain) return false
    return true
  }

  /**
   * Until the replica shows the floor of every entry of `group` (`undefined`: send it). Past the
   * first bound, a group that reads no data goes all the same; one that does keeps waiting up to
   * its `holdUntil`, and then says where the replica was. With offsets unreadable (ROLE and INFO
   * refused), one that reads data rejects at once: nothing can show it is not below its floor.
   */
  async #waitFresh(group: Entry[]): Promise<Behind | undefined> {
    const check = this.#check
    const first = least(group, (e) => e.deadline)
    // Its plain reads are checked again as it goes (moved to the master if still behind): only what
    // reads data and cannot move holds the whole pipeline past the first bound.
    const reads = group.some((e) => e.reads && !e.plain)
    const last = reads ? least(group, (e) => e.holdUntil) : first
    const taken = least(group, (e) => e.taken)
    await check.seenKnown(last)
    let floors: Position[] | undefined
    let at = check.confirmed
    if (this.session.probing === 'none') {
      if (!reads) return undefined
      floors = await within(Promise.all(group.map((e) => e.floor)), last)
      if (floors?.every((f) => check.fresh(undefined, f))) return undefined
    }
    for (let attempt = 0; this.session.probing !== 'none' && Date.now() < last; attempt++) {
      floors = await within(Promise.all(group.map((e) => e.floor)), last)
      if (!floors) break
      if (floors.every((f) => check.fresh(check.confirmed, f))) return undefined
      // A client closed for good: ioredis rejects what is sent on it.
      if (this.replica.status === 'end') return undefined
      const answer = await within(check.probe(), last)
      if (floors.every((f) => check.fresh(answer, f))) return undefined
      if (!reads && (answer === undefined || Date.now() >= first)) return undefined
      at = answer ?? at
      await sleep(pause(attempt))
    }
    if (!reads) return undefined
    const floor = floors?.reduce((a, b) => (b.offset > a.offset ? b : a))
    return { floor, at, waitedMs: Date.now() - taken }
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
    const names = group.map((e) => kindOf(e.command.name).name)
    if (names.includes('exec') && !names.includes('multi')) {
      const discard = new Command('discard')
      ;(this.session.send(this.replica, discard) as Promise<unknown>).catch(() => {})
    }
  }

  /**
   * Send a held group on the read connection as it was sent (it showed the floor, or reads none);
   * its plain reads with their replies caught all the same (a reconnect may send them elsewhere).
   */
  #sendHeld(group: Entry[]): void {
    for (const e of group) if (e.plain) this.#inFlight++
    this.#plain.send(group, (e) => {
      this.#remove(e)
      this.replica.sendDirect(e.command, e.stream)
    })
  }

  /** A plain read's fate is settled: what waited for it may go. */
  #done(e: Entry): void {
    this.#remove(e)
    if (!this.#blocked || this.#inFlight === 0) void this.#pump()
  }

  #remove(e: Entry): void {
    if (e.done) return
    e.done = true
    this.#open--
    if (e.caught) this.#inFlight--
  }
}
