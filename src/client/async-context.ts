import { AsyncLocalStorage } from 'node:async_hooks'
import type { Command } from 'ioredis'
import { onSettled } from '../ioredis-internals.js'

/**
 * The async context (an OpenTelemetry request's active span, any `AsyncLocalStorage`) a command
 * was sent in, kept while it waits to be written: ioredis sends a waiting command again from
 * wherever the connection became ready, which is another request's context, or none.
 */
const parkedIn = new WeakMap<Command, <R>(send: () => R) => R>()
/** How many commands wait in `parkedIn`: with none (nearly always) `unpark` is one check, no lookup. */
let parked = 0
/**
 * When each command first waited, in the order sent (a command waits from the call that sent it):
 * one that waited in ioredis' queue and is then held by the fence keeps its place (see FenceMember).
 */
const firstParked = new WeakMap<Command, number>()
let parks = 0

/** `command` waits (for a connection, the fence, a close): remember the context it was sent in. */
export function park(command: Command): void {
  if (!parkedIn.has(command)) {
    parked++
    // One answered or rejected while it waits is never resumed: it no longer counts.
    onSettled(command, () => {
      if (parkedIn.delete(command)) parked--
    })
  }
  parkedIn.set(command, AsyncLocalStorage.snapshot())
  if (!firstParked.has(command)) firstParked.set(command, ++parks)
}

/** Whether `command` waits to be written now (for a connection, the fence, a close). */
export function isParked(command: Command): boolean {
  return parked > 0 && parkedIn.has(command)
}

/**
 * `command` was written on a connection that closed before answering it: ioredis writes it again
 * once the next one is ready, and it was sent before every command that waits now.
 */
export function wroteBefore(command: Command): void {
  if (!firstParked.has(command)) firstParked.set(command, 0)
}

/** The order in which `command` first waited, among the commands that waited ({@link park}). */
export function parkedAt(command: Command): number {
  return firstParked.get(command) ?? Number.POSITIVE_INFINITY
}

/** The context `command` waited in, once (`undefined`: it never waited, or was resumed already). */
export function unpark(command: Command): (<R>(send: () => R) => R) | undefined {
  if (parked === 0) return undefined
  const resume = parkedIn.get(command)
  if (resume) {
    parkedIn.delete(command)
    parked--
  }
  return resume
}
