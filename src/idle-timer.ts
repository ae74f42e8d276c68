/**
 * `idleTimeoutMs`: disconnect a side (reversibly) once nothing was sent for that long and
 * nothing is pending. Commands twiceredis sends itself (health checks) do not count as use.
 */
export class IdleTimer {
  #lastUse = Date.now()
  #timer: NodeJS.Timeout | undefined

  constructor(
    private readonly ms: number,
    /** Whether the connection may be dropped now (ready, nothing pending, not subscribed). */
    private readonly quiet: () => boolean,
    private readonly onIdle: () => void,
  ) {}

  /** A command of the user's was sent. No clock read unless the timeout is on. */
  touch(): void {
    if (this.ms > 0) this.#lastUse = Date.now()
  }

  start(): void {
    if (this.ms <= 0 || this.#timer) return
    this.#lastUse = Date.now()
    this.#timer = setInterval(
      () => {
        if (Date.now() - this.#lastUse >= this.ms && this.quiet()) this.onIdle()
      },
      Math.max(this.ms / 2, 10),
    ).unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
