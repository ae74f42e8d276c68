import type { Command, Redis } from 'ioredis'
import { onSettled } from '../ioredis-internals.js'
import type { Watch } from '../watch.js'
import { park } from './async-context.js'

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
  #held: Held[] = []
  /** When this member was told of the fence standing now. */
  #fencedAt: number | undefined
  #holding = false

  /** Held until its release: leaving the watch now would leave it held for good. */
  get holding(): boolean {
    return this.#holding || this.#held.length > 0
  }

  /** Whether writes wait now: a fence stands for `master` (this side's), or this member was not released yet. */
  fenced(watch: Watch | undefined, master: string | undefined): boolean {
    if (this.#holding) return true
    this.#holding = watch?.holds(master) === true
    return this.#holding
  }

  /** Told of the fence: `true` the first time (the fence's event is emitted once per member). */
  told(): boolean {
    if (this.#fencedAt !== undefined) return false
    this.#fencedAt = Date.now()
    return true
  }

  /** Hold `command` for the release; `commandTimeout` runs meanwhile, as it would in ioredis' queue. */
  hold(command: Command, stream: Stream, timeout: unknown): void {
    if (typeof timeout === 'number') command.setTimeout(timeout)
    let settled = false
    // On the command itself, never on its promise: that is the application's, and a rejection it
    // leaves unhandled must stay unhandled.
    onSettled(command, () => {
      settled = true
    })
    park(command)
    this.#held.push([command, stream, () => settled])
  }

  /** Released: what was held, in order, and since when this member was told of the fence. */
  release(): { held: Held[]; since: number | undefined } {
    const held = this.#held.splice(0)
    const since = this.#fencedAt
    this.#fencedAt = undefined
    this.#holding = false
    return { held, since }
  }

  /** The client closes for good: the held commands not settled yet (to reject: once, never twice). */
  drop(): Command[] {
    return this.#held.splice(0).flatMap(([command, , settled]) => (settled() ? [] : [command]))
  }
}
