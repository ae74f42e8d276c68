import type { Command, Redis } from 'ioredis'
import { FailoverInProgressError } from '../errors.js'
import type { Emit } from '../events.js'
import { onSettled } from '../ioredis-internals.js'
import type { Fence } from '../sentinels/fence.js'
import type { Release, Watch } from '../sentinels/watch.js'
import { park, parkedAt, wroteBefore } from './async-context.js'

type Stream = Parameters<Redis['sendCommand']>[1]

/** A command held by the fence, with whether it has settled (timed out) meanwhile. */
export type Held = [command: Command, stream: Stream, settled: () => boolean]

/**
 * A write-side client as a member of the write fence: whether its writes wait, and what it holds.
 *
 * A member holds its writes from the moment a fence stands for its master until its own release
 * ({@link release}), whatever the fence's state meanwhile: the watch releases members a few per
 * turn of the event loop, and one not released yet is still connected to the old master.
 */
export class FenceMember {
  constructor(
    private readonly client: Redis,
    private readonly emit: Emit,
    /** The fence's watch this client is a member of, if it is one now. */
    private readonly watch: () => Watch | undefined,
    /** The master this side writes to now (`undefined` while not connected to one). */
    private readonly master: () => string | undefined,
    private readonly name: string,
  ) {
    // On `close` ioredis keeps what was written and not answered, and writes it again first once
    // ready: held by the fence then, it goes before what was held meanwhile (sent after it).
    client.on('close', () => {
      const queue = client.commandQueue
      for (let i = 0; i < queue.length; i++) wroteBefore(queue.peekAt(i)!.command as Command)
    })
  }

  #held: Held[] = []
  /** When this member was told of the fence standing now. */
  #fencedAt: number | undefined
  #holding = false

  /** Whether writes wait now: a fence stands for this side's master, or this member was not released yet. */
  fenced(): boolean {
    if (this.#holding) return true
    const watch = this.watch()
    // No fence standing (nearly always): one check, without looking up this side's master.
    if (watch?.fence === undefined) return false
    this.#holding = watch.holds(this.master())
    return this.#holding
  }

  /** Told of a fence: the fence's event is emitted once per member. */
  told(fence: Readonly<Fence>): void {
    if (this.#fencedAt !== undefined || !this.fenced()) return
    this.#fencedAt = Date.now()
    this.emit('write-fence', { master: fence.master, reason: fence.reason, sentinel: fence.sentinel })
  }

  /** Hold `command` for the release; `commandTimeout` runs meanwhile, as it would in ioredis' queue. */
  hold(command: Command, stream: Stream): unknown {
    if (this.client.options.enableOfflineQueue === false) {
      command.reject(new FailoverInProgressError(this.name, this.watch()?.fence?.master ?? 'unknown'))
      return command.promise
    }
    const timeout = this.client.options.commandTimeout
    if (typeof timeout === 'number') command.setTimeout(timeout)
    let settled = false
    // On the command itself, never on its promise: that is the application's, and a rejection it
    // leaves unhandled must stay unhandled.
    onSettled(command, () => {
      settled = true
    })
    park(command)
    // In the order sent: a command that waited in ioredis' offline queue (sent before the connect
    // that made this client a member, or while connecting) comes here when the connection is ready,
    // after commands sent later were held; appended, it would be written after them.
    const held = this.#held
    const at = parkedAt(command)
    let i = held.length
    while (i > 0 && parkedAt(held[i - 1]![0]) > at) i--
    held.splice(i, 0, [command, stream, () => settled])
    return command.promise
  }

  /** Released: the event, then what was held and has not settled, in order, for `send`. */
  release(release: Release, send: (command: Command, stream: Stream) => void): void {
    const held = this.#held.splice(0)
    const since = this.#fencedAt
    this.#fencedAt = undefined
    this.#holding = false
    if (since !== undefined || held.length > 0) {
      this.emit('write-unfence', {
        reason: release.reason,
        to: release.to ?? this.master(),
        held: held.length,
        durationMs: since === undefined ? 0 : Date.now() - since,
        sentinel: release.sentinel,
      })
    }
    for (const [command, stream, settled] of held) if (!settled()) send(command, stream)
  }

  /** The client closes for good: the held commands not settled yet (to reject: once, never twice). */
  drop(): Command[] {
    return this.#held.splice(0).flatMap(([command, , settled]) => (settled() ? [] : [command]))
  }
}
