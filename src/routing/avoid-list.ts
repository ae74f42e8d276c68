/** How long an address that failed a connect or a role check is passed over when another will do. */
const AVOID_MS = 5000

/**
 * The addresses one TwiceRedis passes over for a while: each failed a connect or a check in the
 * last {@link AVOID_MS}, and is used only when nothing else will do. Some of them get a second
 * try before the client's zone is left (see `SelectionState.secondChance`).
 */
export class AvoidList {
  readonly #until = new Map<string, number>()
  /** Avoided addresses whose only failure was a connection closed before ready (see `SelectionState`). */
  readonly #secondChance = new Set<string>()
  /** Addresses that failed since they last passed a check: a second failure gets no second chance. */
  readonly #failing = new Set<string>()

  /** `address` failed; `refuted`: it answered that it is not what it was chosen as (no second chance). */
  add(address: string, refuted: boolean, now = Date.now()): void {
    if (!refuted && !this.#failing.has(address)) this.#secondChance.add(address)
    else this.#secondChance.delete(address)
    this.#failing.add(address)
    this.#until.set(address, now + AVOID_MS)
  }

  /** `address` passed a check: it works, so a later failure is a first one again. */
  passed(address: string): void {
    this.#failing.delete(address)
  }

  /** Stop avoiding the addresses whose time is up. */
  expire(now = Date.now()): void {
    for (const [address, until] of this.#until) {
      if (until > now) continue
      this.#until.delete(address)
      this.#secondChance.delete(address)
    }
  }

  /** The addresses avoided (as of the last {@link expire}). */
  get addresses(): Set<string> {
    return new Set(this.#until.keys())
  }

  /** The avoided addresses that get a second try in the client's zone. */
  get secondChance(): ReadonlySet<string> {
    return this.#secondChance
  }
}
