import type { Command } from 'ioredis'
import { isParked } from '../client/async-context.js'
import { NoHealthyReplicaError, ReplicaBehindError } from '../errors.js'
import { type CaughtReply, catchReply, rawReplyCopy, streamOf } from '../ioredis-internals.js'
import type { Position } from './position.js'
import { behindReason, pause, type ReplicaCheck, sleep, within } from './replica-check.js'
import type { Session } from './session.js'
import type { SessionClient, Stream } from './session-client.js'

/** A command the gate took, until its fate is settled. */
export interface Entry {
  command: Command
  stream: Stream | undefined
  floor: Position | Promise<Position>
  /** May be served by the master (a plain read, in the db the master is on, outside MULTI). */
  plain: boolean
  /** Reads data (not only queued inside MULTI): never sent below its floor. */
  reads: boolean
  /** When it was taken (for `waitedMs`). */
  taken: number
  /** Until when it waits for the replica before it goes all the same or (reading data) holds on. */
  deadline: number
  /** Until when a command that reads data waits past `deadline` before it rejects. */
  holdUntil: number
  /** Sent on the read connection with its reply caught (plain reads), or still held. */
  caught?: CaughtReply
  /** Settled, sent as it was, or rejected: no longer in the way of what follows. */
  done?: boolean
  /** Its own reply was let through (its probe showed the floor on the connection it went on). */
  delivered?: boolean
  /**
   * Sent while the read connection was not ready: it waits in ioredis' queue behind its probe, and
   * its first write is ioredis sending it again once ready (not a resend after a lost connection).
   */
  unwritten?: boolean
}

/** Plain reads sent together behind one probe, on one connection (`epoch`). */
interface Run {
  entries: Entry[]
  floor: Position | Promise<Position>
  epoch: number
  deadline: number
}

/** The smallest of `value` over `entries` (a loop: a spread of a large pipeline overflows the stack). */
export function least(entries: Entry[], value: (e: Entry) => number): number {
  let min = Number.POSITIVE_INFINITY
  for (const e of entries) min = Math.min(min, value(e))
  return min
}

/**
 * Plain reads of the keyspace on the read side: sent at once behind a probe, their replies caught;
 * used if the probe shows the floor on the connection they went on; else copies are tried behind
 * new probes, and past the bound the reads go to the master. Reads sent together are settled
 * together (one probe, one wait, one move: O(n) for a pipeline of n).
 */
export class PlainReads {
  /** Plain reads sent with their reply caught, in case ioredis sends them again after a reconnect. */
  readonly #caught = new WeakMap<Command, Entry>()

  constructor(
    private readonly session: Session,
    private readonly replica: SessionClient,
    private readonly check: ReplicaCheck,
    /** An entry's fate is settled. */
    private readonly done: (e: Entry) => void,
  ) {}

  /** The entry of a plain read sent here, when ioredis sends it again. */
  entryOf(command: Command): Entry | undefined {
    return this.#caught.get(command)
  }

  /** Check a read again that ioredis resent to a new connection after its own reply was let through. */
  recheck(e: Entry): void {
    const deadline = Date.now() + this.session.timeoutMs
    void this.#retry({ entries: [e], floor: e.floor, epoch: this.check.epoch, deadline }, undefined)
  }

  /**
   * Send `entries` on the read connection as they were sent, the plain reads behind one probe
   * (the others through `other`, in order); their bound starts now (queuing a large pipeline must
   * not use it up). Reads sharing a floor settle together.
   */
  send(entries: Entry[], other?: (e: Entry) => void): void {
    const { replica } = this
    // One socket write for the probe and the reads: a write costs more than the bytes of a ROLE.
    const stream = replica.status === 'ready' ? streamOf(replica) : undefined
    stream?.cork()
    const probe = other && !entries.some((e) => e.plain) ? undefined : this.check.probe()
    const deadline = Date.now() + this.session.timeoutMs
    const runs = new Map<Entry['floor'], Run>()
    for (const e of entries) {
      if (!e.plain && other) {
        other(e)
        continue
      }
      e.caught = catchReply(e.command)
      this.#caught.set(e.command, e)
      replica.sendDirect(e.command, e.stream)
      e.unwritten = isParked(e.command)
      const run = runs.get(e.floor)
      if (run) run.entries.push(e)
      else runs.set(e.floor, { entries: [e], floor: e.floor, epoch: this.check.epoch, deadline })
    }
    stream?.uncork()
    for (const run of runs.values()) void this.#settle(run, probe!)
  }

  async #settle(run: Run, probe: Promise<Position | undefined>): Promise<void> {
    await this.check.seenKnown(run.deadline)
    const [floor, at] = await Promise.all([within(run.floor, run.deadline), within(probe, run.deadline)])
    if (floor && this.check.fresh(at, floor) && run.epoch === this.check.epoch) {
      for (const e of run.entries) {
        e.delivered = true
        e.caught!.deliver()
        this.done(e)
      }
      return
    }
    await this.#retry(run, at)
  }

  /** Copies of the reads of `run` behind a new probe each try, until the bound; then the master. */
  async #retry(run: Run, at: Position | undefined): Promise<void> {
    const floor = await within(run.floor, run.deadline)
    let last = at
    for (let attempt = 0; floor && Date.now() < run.deadline; attempt++) {
      // Another history, or no link to its master: no wait helps.
      if (last && ((floor.master !== undefined && last.master !== floor.master) || last.offset < 0)) break
      await sleep(pause(attempt))
      const epoch = this.check.epoch
      const next = this.check.probe()
      const replies = run.entries.map((e) => {
        const { copy, reply } = rawReplyCopy(e.command)
        this.session.send(this.replica, copy)
        return reply
      })
      const answer = await within(next, run.deadline)
      if (this.check.fresh(answer, floor)) {
        const settled = await Promise.all(replies)
        // Probe and copies answered on one connection: the copies' replies are checked.
        if (this.check.epoch === epoch) {
          for (const [i, e] of run.entries.entries()) {
            e.caught!.settle(settled[i]!)
            this.done(e)
          }
          return
        }
      }
      last = answer ?? last
      if (answer === undefined && this.check.epoch === epoch) break
    }
    this.#move(run, floor, last)
  }

  /** The replica could not show the floor: the reads go to the master (or fail, without readFallback). */
  #move(run: Run, floor: Position | undefined, at: Position | undefined): void {
    const { session } = this
    const replica = this.replica.node?.address
    const reason = behindReason(session, floor, at)
    const { entries } = run
    const waited = Date.now() - least(entries, (e) => e.taken)
    if (session.options.readFallback) session.emit('read-from-master', { replica, reason, waitedMs: waited })
    // Never inside the application's MULTI on tr.master (it would answer QUEUED) nor behind its
    // BLPOP; asked after the event, whose listener may have acted on tr.master.
    const master = session.options.readFallback ? session.masterLine() : undefined
    if (!master) {
      const error = new NoHealthyReplicaError(session.options.masterName, [
        { address: replica ?? 'the read side', reason: `not at the session's floor: ${reason}` },
      ])
      for (const e of entries) e.caught!.settle({ ok: false, error })
    } else {
      const replies = entries.map((e) => {
        const { copy, reply } = rawReplyCopy(e.command)
        session.send(master, copy)
        master.metrics?.written(e.command, master as never) // served by the master, for `twiceredis.reads`
        return reply
      })
      // Monotonic reads: the master's answer right behind the reads is at least the state they read.
      const after = within(session.positionOf(master), Date.now() + session.options.holdMs)
      void Promise.all([Promise.all(replies), after]).then(([settled, position]) => {
        this.check.saw(position)
        for (const [i, e] of entries.entries()) {
          const r = settled[i]!
          // quit() closed the master side meanwhile: the read came before it, and is not a command
          // after quit(); the replica could not show the floor, which is what it reports.
          if (!r.ok && (r.error as { code?: string }).code === 'CLIENT_CLOSED') {
            const error = new ReplicaBehindError(
              replica ?? 'the read side',
              reason,
              waited,
              'the master side it would move to was closed (tr.master.quit())',
            )
            e.caught!.settle({ ok: false, error })
          } else e.caught!.settle(r)
        }
      })
    }
    for (const e of entries) this.done(e)
  }
}
