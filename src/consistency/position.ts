import { InvalidOptionError } from '../errors.js'
import type { Position } from '../protocol/node-info.js'

export type { Position } from '../protocol/node-info.js'

/**
 * Positions in a replication history, and the tokens that carry one to another process.
 *
 * Every node counts the bytes of its replication stream: a master's offset grows with each write,
 * a replica's offset says how much of its master's stream it has applied. A write is visible on a
 * replica that follows the same master once the replica's offset reaches the master's offset
 * taken after the write (the floor). What a node says of its position is parsed in
 * protocol/node-info.ts.
 */

export const START: Position = { offset: 0, master: undefined }

/**
 * The floor after a master answered `at`: the later offset in the same history; another master's
 * answer replaces it (a failover: a new history), and so does any master's answer to a token's
 * floor (the master has every acknowledged write, so a token beyond it is from lost writes or
 * another history and would otherwise hold every read until the timeout).
 */
export function advance(floor: Position, at: Position): Position {
  return floor.master === at.master && floor.offset >= at.offset ? floor : at
}

/**
 * Whether a replica at `at` has every write below `floor`, and (monotonic reads) at least what the
 * previous connection of the read side showed (`seen`), when it follows the same master.
 */
export function fresh(at: Position | undefined, floor: Position, seen?: Position): boolean {
  if (seen && seen.offset > 0 && (!at || (seen.master === at.master && at.offset < seen.offset))) return false
  if (floor.offset === 0) return true
  if (!at || (floor.master !== undefined && at.master !== floor.master)) return false
  return at.offset >= floor.offset
}

const TOKEN = /^ryw1:(0|[1-9]\d{0,15})$/

/** A token for the state after a write, to carry to another process: `ryw1:<offset>`. */
export function formatToken(offset: number): string {
  return `ryw1:${offset}`
}

/** The offset in a token from {@link formatToken}; `INVALID_OPTION` for anything else. */
export function parseToken(token: unknown): number {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null
  const offset = Number(match?.[1] ?? Number.NaN)
  if (!Number.isSafeInteger(offset)) {
    throw new InvalidOptionError('token', 'a token from `await tr.writeToken()` ("ryw1:<offset>")')
  }
  return offset
}

/** The floor when offsets cannot be read at all (no ROLE, no INFO): no replica reaches it. */
export const UNREACHABLE: Position = { offset: Number.MAX_SAFE_INTEGER, master: undefined }

/** The later of two positions: the higher offset of one history, else the one seen last (`b`). */
export function later(a: Position | undefined, b: Position | undefined): Position | undefined {
  if (!a || !b) return b ?? a
  return a.master === b.master && a.offset > b.offset ? a : b
}
