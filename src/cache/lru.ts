/** Pure: the client cache's store, an LRU bounded by entries and estimated bytes, with a TTL. */

/** What `tr.topology().cache` reports. */
export interface CacheStats {
  /** Entries held now. */
  entries: number
  /** Their estimated size in bytes (keys and values as UTF-16, plus a per-entry overhead). */
  bytes: number
  /** Reads answered from the cache. */
  hits: number
  /** Cacheable reads that went to the replica. */
  misses: number
  /** Entries dropped to stay within `maxEntries`/`maxBytes` (not invalidations, not flushes). */
  evictions: number
  /** Times the whole cache was emptied (any reason). */
  flushes: number
}

export interface CacheLimits {
  maxEntries: number
  maxBytes: number
  /** Entries older than this are not served. */
  ttlMs: number
  /**
   * Hits are served only while the tracking pair was heard from within this (half the silence
   * bound of the read side: `min(connectTimeoutMs, maxStalenessMs) / 2`); default: no bound.
   */
  heardWithinMs?: number
}

/** One cached reply. */
export interface Entry {
  readonly value: unknown
  /** The Redis keys the reply depends on: an invalidation of any drops it. */
  readonly keys: readonly string[]
  readonly bytes: number
  readonly expires: number
  /** What the reply was read at (the session's floor), compared by identity when served. */
  readonly floor: unknown
}

/** Bookkeeping per entry beyond its key and value (Map slot, index sets, the entry object). */
const OVERHEAD = 96

/** An estimate of what `value` holds in memory (UTF-16 strings): enough to bound the cache, not exact. */
export function sizeOf(value: unknown): number {
  if (typeof value === 'string') return 2 * value.length
  if (value === null || value === undefined) return 0
  if (typeof value !== 'object') return 8
  if (Buffer.isBuffer(value)) return value.length
  let total = 16
  if (Array.isArray(value)) for (const v of value) total += 8 + sizeOf(v)
  else if (value instanceof Map) for (const [k, v] of value) total += 16 + sizeOf(k) + sizeOf(v)
  else for (const [k, v] of Object.entries(value)) total += 16 + sizeOf(k) + sizeOf(v)
  return total
}

/**
 * Entries by id (a command and its arguments), most recently used last (a `Map` keeps insertion
 * order), indexed by the Redis keys they depend on for invalidation.
 */
export class Lru {
  readonly stats: CacheStats = { entries: 0, bytes: 0, hits: 0, misses: 0, evictions: 0, flushes: 0 }
  readonly #entries = new Map<string, Entry>()
  readonly #byKey = new Map<string, Set<string>>()
  /** The id used last: a hot key read again is not moved (a Map delete and set each time). */
  #last: string | undefined

  constructor(readonly limits: CacheLimits) {}

  /** Whether an entry of `id` is held (maybe expired). */
  has(id: string): boolean {
    return this.#entries.has(id)
  }

  /** The entry of `id`, if held and not expired; it becomes the most recently used. */
  get(id: string, now: number): Entry | undefined {
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    if (entry.expires <= now) {
      this.#delete(id, entry)
      return undefined
    }
    if (this.#last !== id) {
      this.#entries.delete(id)
      this.#entries.set(id, entry)
      this.#last = id
    }
    return entry
  }

  /**
   * Hold `value` for `id` (replacing what was) until `ttlMs` from `now` or `expiresAt`, whichever
   * comes first, then evict the least recently used beyond the limits.
   */
  set(id: string, keys: readonly string[], value: unknown, floor: unknown, now: number, expiresAt = Infinity): void {
    const bytes = OVERHEAD + 2 * id.length + sizeOf(value)
    const { maxEntries, maxBytes, ttlMs } = this.limits
    const expires = Math.min(now + ttlMs, expiresAt)
    if (bytes > maxBytes || maxEntries === 0 || expires <= now) return // never held: it would evict everything else
    const old = this.#entries.get(id)
    if (old) this.#delete(id, old)
    this.#entries.set(id, { value, keys, bytes, expires, floor })
    this.#last = id
    for (const key of keys) {
      const ids = this.#byKey.get(key)
      if (ids) ids.add(id)
      else this.#byKey.set(key, new Set([id]))
    }
    this.stats.entries++
    this.stats.bytes += bytes
    while (this.stats.entries > maxEntries || this.stats.bytes > maxBytes) {
      const [oldest, entry] = this.#entries.entries().next().value as [string, Entry]
      this.#delete(oldest, entry)
      this.stats.evictions++
    }
  }

  /** Drop every entry that depends on the Redis key `key` (an invalidation); how many. */
  invalidate(key: string): number {
    const ids = this.#byKey.get(key)
    if (!ids) return 0
    let dropped = 0
    for (const id of [...ids]) {
      const entry = this.#entries.get(id)
      if (entry) {
        this.#delete(id, entry)
        dropped++
      }
    }
    this.#byKey.delete(key)
    return dropped
  }

  /** Drop everything (counted in `flushes`). */
  flush(): void {
    this.#entries.clear()
    this.#byKey.clear()
    this.#last = undefined
    this.stats.entries = 0
    this.stats.bytes = 0
    this.stats.flushes++
  }

  #delete(id: string, entry: Entry): void {
    this.#entries.delete(id)
    if (this.#last === id) this.#last = undefined
    for (const key of entry.keys) {
      const ids = this.#byKey.get(key)
      ids?.delete(id)
      if (ids?.size === 0) this.#byKey.delete(key)
    }
    this.stats.entries--
    this.stats.bytes -= entry.bytes
  }
}
