import { fresh, includes, later, type Position } from './position.js'
import type { Session } from './session.js'
import type { SessionClient } from './session-client.js'

/** Where a replica that could not show a floor was. */
export interface Behind {
  floor: Position | undefined
  at: Position | undefined
  waitedMs: number
}

/** Why a replica at `at` does not show `floor`, for an event or an error. */
export function behindReason(session: Session, floor: Position | undefined, at: Position | undefined): string {
  if (!floor) return 'the master did not confirm the writes'
  if (session.probing === 'none') return 'replication offsets cannot be read (ROLE_DENIED)'
  if (!at) return 'no answer'
  // Replication IDs known on both sides decide; else the master's address does (position.ts).
  if (at.history && floor.history) {
    if (!includes(at.history, Number.MAX_SAFE_INTEGER, floor.history, floor.offset)) {
      return `on replication history ${at.history.replid}, the writes were on ${floor.history.replid}`
    }
  } else if (floor.master !== undefined && at.master !== floor.master) {
    return `follows ${at.master}, the writes were on ${floor.master}`
  }
  return at.offset < 0 ? 'not connected to its master' : `${floor.offset - at.offset} bytes behind`
}

/** Resolves with `work`, or with `undefined` once `deadline` (a `Date.now()`) has passed. */
export function within<T>(work: Promise<T> | T, deadline: number): Promise<T | undefined> {
  if (!(work instanceof Promise)) return Promise.resolve(work)
  let timer: NodeJS.Timeout | undefined
  const passed = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), undefined)
  })
  return Promise.race([work, passed]).finally(() => clearTimeout(timer))
}

/** A pause of `ms`; none at all for 0 (a timer would add a millisecond). */
export const sleep = (ms: number) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve())

/** Between tries of a replica just behind: none for the first three, then growing to 20 ms. */
export function pause(attempt: number): number {
  return attempt < 3 ? 0 : Math.min(2 ** (attempt - 3), 20)
}

/**
 * What the read side's connection is known to show: the last probe's answer on this connection
 * (the connection record's `epoch`, bumped as it closes), and what reads of this side already returned (`seen`: monotonic reads, also across a
 * reconnect and after reads the master served).
 */
export class ReplicaCheck {
  /** What the last probe of the current connection answered. */
  confirmed: Position | undefined
  /**
   * The latest state a read of this side returned, as far as known: what the previous connection
   * was last seen at, or the master's position after a read it served.
   */
  #seen: Position | undefined
  /** The master's position asked after reads it served while the read side was on it. */
  #seenAsk: Promise<void> | undefined
  /** Reads went straight to the master (the read side is on it) since the last disconnect. */
  #onMaster = false
  /** A probe sent this event-loop turn: a read sent after it may use its answer. */
  #probe: Promise<Position | undefined> | undefined
  /** The read client's connection (its record's epoch): a probe vouches only for replies on its own. */
  get epoch(): number {
    return this.replica.connection.epoch
  }

  constructor(
    private readonly session: Session,
    private readonly replica: SessionClient,
  ) {}

  /** The read client lost its connection: the node it reaches next has not been checked. */
  disconnected(): void {
    this.#seen = later(this.#seen, this.confirmed)
    if (this.#onMaster) {
      // Reads the master served: the next node must show at least what the master answers now.
      this.#onMaster = false
      const line = this.session.masterLine()
      const ask: Promise<void> | undefined = line
        ? this.session.positionOf(line).then((at) => {
            this.saw(at)
            if (this.#seenAsk === ask) this.#seenAsk = undefined
          })
        : undefined
      this.#seenAsk = ask
    }
    this.confirmed = undefined
    this.#probe = undefined
  }

  /** A read went straight to the master the read side is on. */
  servedByMaster(): void {
    this.#onMaster = true
  }

  /** A read returned the state at `at` (or later): no later read may show less. */
  saw(at: Position | undefined): void {
    this.#seen = later(this.#seen, at)
  }

  /** Whether a node at `at` shows `floor` and what earlier reads showed. */
  fresh(at: Position | undefined, floor: Position): boolean {
    return fresh(at, floor, this.#seen)
  }

  /** Whether this connection is known to show `floor` now, without asking. */
  knownFresh(floor: Position): boolean {
    return !this.#seenAsk && fresh(this.confirmed, floor, this.#seen)
  }

  /** Until what earlier reads showed is known (or `deadline`). */
  async seenKnown(deadline: number): Promise<void> {
    if (this.#seenAsk) await within(this.#seenAsk, deadline)
  }

  /** A probe of the replica, shared by every read sent after it in this event-loop turn. */
  probe(): Promise<Position | undefined> {
    if (this.#probe) return this.#probe
    const probe = this.session.positionOf(this.replica).then((at) => {
      if (at) this.confirmed = at
      return at
    })
    this.#probe = probe
    setImmediate(() => {
      if (this.#probe === probe) this.#probe = undefined
    })
    return probe
  }
}
