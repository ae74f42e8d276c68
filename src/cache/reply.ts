import type { Command } from 'ioredis'

/**
 * Call `replied` with the reply of `command` as ioredis converts it for the application (encoding,
 * reply transformers such as HGETALL's), or with `undefined, error` when it fails; before the
 * application's promise settles, without touching it (its unhandled rejections stay its own).
 * Relies on ioredis' `Command.resolve(raw)` converting with the command's public `transformReply`
 * (ioredis 5 and 6); a version that stops doing so leaves the cache empty, never wrong
 * (test/integration/client-cache.test.ts checks that hits happen).
 */
export function onReply(command: Command, replied: (value: unknown, error?: Error) => void): void {
  const { resolve, reject } = command
  let value: unknown
  let converted = false
  const transform = command.transformReply
  command.transformReply = function (this: Command, result) {
    const out = transform.call(this, result)
    value = out
    converted = true
    return out
  }
  command.resolve = (result: unknown) => {
    const out = resolve(result) as unknown
    // Converted (or the conversion threw: then ioredis rejected, and `reject` below told).
    if (converted) replied(value)
    return out
  }
  command.reject = (error: Error) => {
    replied(undefined, error)
    return reject(error)
  }
}

/**
 * A copy of a cached reply the application may change without changing the cache: arrays and
 * objects are copied (nested arrays too: ZRANGE WITHSCORES under RESP3); strings, numbers and
 * `null` are values already.
 */
export function copyOf<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(copyOf) as T
  if (value instanceof Map) return new Map(value) as T
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T
  return { ...value }
}

export type Callback = (error?: Error | null, result?: unknown) => void

/** The keys `command` names (`keyPrefix` applied), as the invalidations name them. */
export function keysOf(command: Command): string[] {
  try {
    return command.getKeys().map(String)
  } catch {
    return [] // arguments ioredis' command table cannot read: the node refuses them too
  }
}

/** Call the application's callback; what it throws is thrown later, out of our promise (as ioredis does). */
export function call(callback: Callback, error: Error | null, value?: unknown): void {
  try {
    callback(error, value)
  } catch (thrown) {
    setTimeout(() => {
      throw thrown
    }, 0)
  }
}
