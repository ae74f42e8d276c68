/**
 * Pure: cacheable reads sent and not answered yet, by the keys they read. In Redis' two-connection
 * mode an invalidation can overtake the reply it concerns (the reply still holds the old value):
 * an invalidation of a key while its read is in flight, or any flush, keeps that reply out of the
 * cache (Redis' docs, "client side caching", the race of the two-connections mode).
 */
export interface Ticket {
  readonly keys: readonly string[]
  readonly generation: number
  /** When it was sent, in the order of {@link InFlight.next}. */
  readonly seq: number
  spoiled: boolean
}

export class InFlight {
  #generation = 0
  #seq = 0
  readonly #byKey = new Map<string, Set<Ticket>>()

  /** No read is in flight. */
  get idle(): boolean {
    return this.#byKey.size === 0
  }

  /** The number of a read sent now (cached or not): later reads get larger ones. */
  next(): number {
    return ++this.#seq
  }

  /** A read of `keys` is sent now. */
  start(keys: readonly string[]): Ticket {
    const ticket: Ticket = { keys, generation: this.#generation, seq: this.next(), spoiled: false }
    for (const key of keys) {
      const tickets = this.#byKey.get(key)
      if (tickets) tickets.add(ticket)
      else this.#byKey.set(key, new Set([ticket]))
    }
    return ticket
  }

  /** The read was answered (or failed): whether its reply may be cached. */
  end(ticket: Ticket): boolean {
    for (const key of ticket.keys) {
      const tickets = this.#byKey.get(key)
      tickets?.delete(ticket)
      if (tickets?.size === 0) this.#byKey.delete(key)
    }
    return !ticket.spoiled && ticket.generation === this.#generation
  }

  /** `key` changed: no read of it in flight now may be cached. */
  invalidate(key: string): void {
    const tickets = this.#byKey.get(key)
    if (tickets) for (const ticket of tickets) ticket.spoiled = true
  }

  /**
   * A read of `key` sent as number `seq` was answered: the replies of reads of it sent before (on
   * the same connection, answered before it) are older than what the application got: not cached.
   */
  supersede(key: string, seq: number): void {
    const tickets = this.#byKey.get(key)
    if (tickets) for (const ticket of tickets) if (ticket.seq < seq) ticket.spoiled = true
  }

  /** Everything may have changed: no read in flight now may be cached. */
  flush(): void {
    this.#generation++
    this.#byKey.clear()
  }
}
