import { Redis } from 'ioredis'
import type { ResolvedOptions } from './options.js'
import { format } from './sentinels.js'

/** A client waiting for its master or replica to come back. */
export interface Waiter {
  /** The sentinels announced a new master (`host:port`): reconnect now instead of after the backoff. */
  kick(master: string): void
}

/**
 * Fast failover detection without idle sentinel connections: a sentinel subscription
 * (`+switch-master`) that exists only while at least one client is in an outage, and is shared
 * by every client of the process watching the same master through the same sentinels.
 *
 * Events only speed things up: clients keep re-resolving on their own backoff, as the
 * guidelines ask, in case a message is lost.
 */
class Watch {
  readonly #waiters = new Set<Waiter>()
  #subscriber: Redis | undefined
  #next = 0

  constructor(
    private readonly options: ResolvedOptions,
    private readonly onIdle: () => void,
  ) {}

  hold(waiter: Waiter): void {
    this.#waiters.add(waiter)
    if (!this.#subscriber) this.#subscribe()
  }

  release(waiter: Waiter): void {
    this.#waiters.delete(waiter)
    if (this.#waiters.size === 0) {
      this.#subscriber?.disconnect()
      this.#subscriber = undefined
      this.onIdle()
    }
  }

  /** Subscribe on one sentinel; if it fails, move on to the next one. */
  #subscribe(): void {
    const o = this.options
    const sentinel = o.sentinels[this.#next++ % o.sentinels.length]!
    const subscriber = new Redis({
      host: sentinel.host,
      port: sentinel.port,
      username: o.sentinelUsername,
      password: o.sentinelPassword,
      tls: o.sentinelTls,
      protocol: 2,
      connectTimeout: o.sentinelTimeoutMs,
      retryStrategy: () => null,
      enableReadyCheck: false,
      disableClientInfo: true,
      maxRetriesPerRequest: 0,
    })
    this.#subscriber = subscriber
    subscriber.on('error', () => {})
    subscriber.on('message', (channel: string, message: string) => {
      // +switch-master <name> <old-ip> <old-port> <new-ip> <new-port>
      const [name, , , host, port] = message.split(' ')
      if (channel !== '+switch-master' || name !== o.name) return
      for (const w of [...this.#waiters]) w.kick(`${host}:${port}`)
    })
    subscriber.on('end', () => {
      if (this.#subscriber !== subscriber) return
      this.#subscriber = undefined
      // Lost the sentinel (or never reached it): try the next one a little later.
      if (this.#waiters.size)
        setTimeout(() => this.#waiters.size && !this.#subscriber && this.#subscribe(), 100).unref()
    })
    subscriber.subscribe('+switch-master').catch(() => {})
  }
}

const watches = new Map<string, Watch>()

/** The process-wide watch for this master name, sentinels and sentinel credentials. */
export function watchFor(options: ResolvedOptions): Watch {
  const key = JSON.stringify([
    options.name,
    options.sentinels.map(format).sort(),
    options.sentinelUsername,
    options.sentinelPassword,
    Boolean(options.sentinelTls),
  ])
  let watch = watches.get(key)
  if (!watch) {
    watch = new Watch(options, () => watches.delete(key))
    watches.set(key, watch)
  }
  return watch
}

export type { Watch }
