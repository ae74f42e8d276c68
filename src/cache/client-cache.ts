import { Command } from 'ioredis'
import type { Session } from '../consistency/session.js'
import type { SessionClient } from '../consistency/session-client.js'
import type { FlushReason } from '../events.js'
import { onSettled } from '../ioredis-internals.js'
import { expiryOf } from './expiry.js'
import { InFlight } from './in-flight.js'
import { type CacheLimits, type CacheStats, Lru } from './lru.js'
import { type Callback, call, copyOf, keysOf, onReply } from './reply.js'
import { Tracker } from './tracker.js'

/** What a lookup answers when the cache has nothing to serve. */
export const MISS: unique symbol = Symbol('miss')

/** The cache's statistics, with its flushes by reason (for the metrics). */
export interface CacheRecord extends CacheStats {
  flushesBy: Partial<Record<FlushReason, number>>
  /** Redis confirmed the tracking of the read side's connection: reads are cached now (a few round trips after each connect). */
  tracking: boolean
}

/** The events of a TwiceRedis after which an invalidation may have been missed, and the flush each means. */
const FLUSHED_ON: Record<string, FlushReason> = {
  'master-changed': 'failover',
  'write-fence': 'write-fence',
  'replica-changed': 'node-change',
  'fallback-to-master': 'node-change',
}

/** Don't start a new tracking pair more often than this after one failed or ended. */
const RETRY_MS = 1000

/**
 * The client cache of one `tr.slave`: the store (lru.ts), the reads in flight (in-flight.ts) and
 * the tracking pair of the current connection (tracker.ts). Every rule of a served value is here
 * (ARCHITECTURE.md, "The client cache"): a value is served only from the pair that cached it,
 * while that pair is up, and under read-your-writes only at the floor it was read at.
 */
export class ClientCache {
  readonly #lru: Lru
  readonly #reads = new InFlight()
  readonly #flushesBy: Partial<Record<FlushReason, number>> = {}
  /** Reads of ours, and the application's commands already watched by {@link sending}. */
  readonly #watched = new WeakSet<Command>()
  #tracker: Tracker | undefined
  /** Hits waiting for the end of this turn of the event loop. */
  #later: Later[] = []
  #starting = false
  readonly #heardWithinMs: number
  #nextStart = 0
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(
    readonly client: SessionClient,
    limits: CacheLimits,
    readonly session: Session,
    readonly flushed: (reason: FlushReason, entries: number) => void,
    readonly refused: (error: Error) => void,
  ) {
    this.#lru = new Lru(limits)
    this.#heardWithinMs = limits.heardWithinMs ?? Number.POSITIVE_INFINITY
    client.on('ready', () => this.track())
    client.on('close', () => this.#tracker?.end('reconnect'))
    client.on('end', () => this.#tracker?.end('reconnect'))
  }

  get stats(): CacheRecord {
    const tracking = this.#tracker?.active === true && this.#tracker.current
    return { ...this.#lru.stats, flushesBy: { ...this.#flushesBy }, tracking }
  }

  /**
   * A cacheable read: from memory if an entry is held (answered at the end of this turn of the
   * event loop, see {@link answer}), else sent ({@link fetch}).
   */
  read(name: string, args: (string | number)[], keys: string[], id: string, callback?: Callback): Promise<unknown> {
    if (!this.#lru.has(id)) return this.fetch(name, args, keys, id, callback)
    const answered = new Promise((resolve) => {
      if (this.#later.length === 0) setImmediate(this.#answer)
      this.#later.push({ name, args, keys, id, resolve })
    })
    // As ioredis does (standard-as-callback): with a callback, the callback handles a rejection.
    if (callback)
      answered.then(
        (value) => call(callback, null, value),
        (error: Error) => call(callback, error),
      )
    return answered
  }

  /**
   * Answer the hits of this turn of the event loop, looked up now: after every socket that was
   * readable in this turn was read. The replica sends an invalidation before it acknowledges the
   * write (WAIT) or answers anything after it, but on another socket: Node may read that socket
   * after the acknowledgement within one turn, and a read issued on the acknowledgement would be
   * answered the old value (bench/cache.ts counted 26 of 569k reads so, all in that very turn).
   */
  readonly #answer = (): void => {
    const later = this.#later
    this.#later = []
    for (const r of later) {
      const value = this.lookup(r.id)
      r.resolve(value === MISS ? this.fetch(r.name, r.args, r.keys, r.id) : value)
    }
  }

  /** The value cached under `id`, servable now, or {@link MISS}. */
  lookup(id: string): unknown {
    const t = this.#tracker
    const client = this.client
    // The pair that cached it is up: its sockets (ioredis' `status` changes only at 'close'), its epoch.
    if (t === undefined || !t.alive || client.status !== 'ready' || t.epoch !== client.connection.epoch) return MISS
    const now = Date.now()
    if (!t.heardWithin(now, this.#heardWithinMs)) return MISS // a paused replica: its invalidations could not come
    const entry = this.#lru.get(id, now)
    if (entry === undefined) return MISS
    // Read-your-writes: only at the very floor it was read at (a write since raised it, or its ROLE is in flight).
    if (this.session.holdsReads && this.session.floorNow() !== entry.floor) return MISS
    this.#lru.stats.hits++
    return copyOf(entry.value)
  }

  /**
   * A miss: send the read as ioredis would (`tr.slave.sendCommand`: every stage of its path), and
   * cache its reply if its pair was active when it was sent and still is, and nothing touched its
   * keys (or flushed) while it was in flight.
   */
  fetch(name: string, args: (string | number)[], keys: string[], id: string, callback?: Callback): Promise<unknown> {
    this.#lru.stats.misses++
    const client = this.client
    const options = { replyEncoding: 'utf8' as const, keyPrefix: client.options.keyPrefix }
    const command = new Command(name, args, options, callback)
    const t = this.#tracker
    if (t?.active && t.current) {
      // Under read-your-writes, the floor this read is gated at (a ROLE in flight: unknown, not cached).
      const floor = this.session.holdsReads ? this.session.floorNow() : undefined
      if (!(floor instanceof Promise)) {
        const ticket = this.#reads.start(keys)
        // Its keys' TTLs first, on the same connection: known as its reply arrives (no promise
        // hop in between), so the entry is there before the application's next read.
        let expiresAt: number | undefined
        let pending: ((at: number) => void) | undefined
        expiryOf(client, keys, Date.now(), (at) => {
          expiresAt = at
          pending?.(at)
        })
        const fill = (at: number, value: unknown) => {
          // With no invalidation or flush since it was sent, on the pair it was sent on.
          if (this.#reads.end(ticket) && t.active && t.current) this.#lru.set(id, keys, value, floor, Date.now(), at)
        }
        onReply(command, (value, error) => {
          if (error) return void this.#reads.end(ticket)
          this.#answered(keys, ticket.seq)
          const held = copyOf(value)
          if (expiresAt !== undefined) fill(expiresAt, held)
          else pending = (at) => fill(at, held)
        })
        this.#watched.add(command)
        return client.sendCommand(command) as Promise<unknown>
      }
    } else {
      this.track()
    }
    return client.sendCommand(command) as Promise<unknown>
  }

  /**
   * A command of the application's is sent on `tr.slave` (ours, cached or not): when it is
   * answered, what it read of its keys is newer than every entry of them (replies on a connection
   * come in order), while their invalidation may still be on its way on the other connection of
   * the pair: those entries, and the reads of them sent before it, are dropped. So no hit is older
   * than a reply the application already got from the node (monotonic reads; red team 5, F1).
   */
  sending(command: Command): void {
    if (this.#watched.has(command) || this.client.connection.isOwn(command)) return
    if (this.#lru.stats.entries === 0 && this.#reads.idle) return // whatever is cached later is newer
    const keys = keysOf(command)
    if (keys.length === 0) return
    this.#watched.add(command)
    const seq = this.#reads.next()
    onSettled(command, () => this.#answered(keys, seq))
  }

  /** A read of `keys` sent as number `seq` was answered: entries of them, and reads sent before, are older. */
  #answered(keys: readonly string[], seq: number): void {
    for (const key of keys) {
      this.#reads.supersede(key, seq)
      this.#lru.invalidate(key)
    }
  }

  /** The TwiceRedis emitted `event`: flush if it means an invalidation may have been missed. */
  heard(event: string, payload: unknown): void {
    const reason = FLUSHED_ON[event]
    // A side's first node (`from` undefined) replaces nothing the cache holds.
    const first = typeof payload === 'object' && payload !== null && 'from' in payload && payload.from === undefined
    if (reason && !first) this.flush(reason)
  }

  /** Empty the cache: nothing cached or in flight now may be served. */
  flush(reason: FlushReason): void {
    const entries = this.#lru.stats.entries
    this.#lru.flush()
    this.#reads.flush()
    this.#flushesBy[reason] = (this.#flushesBy[reason] ?? 0) + 1
    this.flushed(reason, entries)
  }

  /** Start a tracking pair on the current connection of `tr.slave`, when none is and it can carry one. */
  track(): void {
    const client = this.client
    if (this.#stopped || this.#starting || (this.#tracker?.current && this.#tracker.active)) return
    if (client.status !== 'ready' || client.mode !== 'normal' || Date.now() < this.#nextStart) return
    const c = client.connection
    if (c.queueing || c.subscriber || c.blocked > 0) return // CLIENT TRACKING would wait or be queued in it
    this.#tracker?.end('reconnect')
    let refused = false
    const tracker = new Tracker(client, {
      invalidate: (keys) => this.#invalidate(keys),
      ended: (reason) => {
        // tr.slave still up: started again by a timer; closed: by its next 'ready'.
        const lost = reason === 'tracking-lost'
        this.#retry(lost ? RETRY_MS : 0, lost)
        this.flush(reason)
      },
      refused: (error) => {
        refused = true
        this.refused(error)
      },
    })
    this.#tracker = tracker
    this.#starting = true
    void tracker.start().then((ok) => {
      this.#starting = false
      // A node that refuses is asked again only by a miss (at most every RETRY_MS), not by a timer.
      if (!ok) this.#retry(RETRY_MS, !refused)
    })
  }

  /**
   * The next pair starts in `ms` at the earliest: then by itself (`timer`), not only from a miss,
   * so `tracking` comes back for an application that waits for it with other commands (red team 5, F7).
   */
  #retry(ms: number, timer = true): void {
    this.#nextStart = Date.now() + ms
    clearTimeout(this.#timer)
    if (!timer) return
    this.#timer = setTimeout(() => {
      this.#nextStart = 0 // (a timer may fire a millisecond early by Date.now())
      this.track()
      const t = this.#tracker
      // Not startable now (a MULTI or a blocking command holds the connection): again later.
      const waiting = !this.#stopped && !this.#starting && !(t?.active && t.current)
      if (waiting && this.client.status === 'ready') this.#retry(RETRY_MS)
    }, ms).unref()
  }

  /** Stop for good (`quit()`): the redirect connection closes. */
  stop(): void {
    this.#stopped = true
    this.#tracker?.end('reconnect')
    clearTimeout(this.#timer)
  }

  #invalidate(keys: string[] | null): void {
    if (keys === null) {
      this.flush('server-flush')
      return
    }
    for (const key of keys) {
      this.#reads.invalidate(key)
      this.#lru.invalidate(key)
    }
  }
}

/** A hit waiting for the end of its turn of the event loop. */
interface Later {
  name: string
  args: (string | number)[]
  keys: string[]
  id: string
  resolve: (value: unknown) => void
}
