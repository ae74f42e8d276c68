import { InvalidOptionError } from '../errors.js'
import type { History, Position } from '../protocol/node-info.js'

export type { History, Position } from '../protocol/node-info.js'

/**
 * Positions in a replication history, and the tokens that carry one to another process.
 *
 * Every node counts the bytes of its replication stream: a master's offset grows with each write,
 * a replica's offset says how much of its master's stream it has applied. A write is visible on a
 * replica that follows the same master once the replica's offset reaches the master's offset
 * taken after the write (the floor). What a node says of its position is parsed in
 * protocol/node-info.ts.
 *
 * Offsets compare only within one history. Where both positions know theirs (replication IDs,
 * see {@link History}) the IDs decide, not the master's address: a node at the same address may
 * be on another history (a pod restarted empty behind the same name, a node that left its master
 * with `REPLICAOF NO ONE`), and a replica of a new master that continued the old history (PSYNC
 * with `replid2`) has every write of that history up to the switch. Where one does not (a `ROLE`
 * of a node whose INFO was never seen, a `ryw1` token), the master's address does, as before.
 */

export const START: Position = { offset: 0, master: undefined }

/**
 * The floor after a master answered `at`: the later offset in the same history; another master's
 * answer replaces it (a failover: a new history), and so does any master's answer to a token's
 * floor (the master has every acknowledged write, so a token beyond it is from lost writes or
 * another history and would otherwise hold every read until the timeout). But not an answer in
 * the history the floor's continued: that is the master a failover replaced, still answering as
 * one until the sentinels demote it (a connection to it not closed yet), not a newer history.
 */
export function advance(floor: Position, at: Position): Position {
  if (sameLine(floor, at)) return floor.offset >= at.offset ? floor : at
  return floor.history?.replid2 !== undefined && floor.history.replid2 === at.history?.replid ? floor : at
}

/** Whether the offsets of `a` and `b` count the same stream: one replication ID, else (unknown) one master. */
export function sameLine(a: Position, b: Position): boolean {
  if (a.history && b.history) return a.history.replid === b.history.replid
  return a.master === b.master
}

/**
 * Whether a node on history `at` at offset `offset` has every byte of history `floor` below
 * `floorOffset`: the same history, or one of them continued the other's past that offset.
 */
export function includes(at: History, offset: number, floor: History, floorOffset: number): boolean {
  if (offset < floorOffset) return false
  if (at.replid === floor.replid) return true
  // `at` continued the floor's history into its own after the floor's offset (a failover: PSYNC with replid2).
  if (at.replid2 === floor.replid && floorOffset < (at.switchAt ?? 0)) return true
  // The floor is in the part of its history that `at`'s still is (no write after its switch).
  return floor.replid2 === at.replid && floorOffset < (floor.switchAt ?? 0)
}

/**
 * Whether a replica at `at` has every write below `floor`, and (monotonic reads) at least what the
 * previous connection of the read side showed (`seen`), when it follows the same master.
 */
export function fresh(at: Position | undefined, floor: Position, seen?: Position): boolean {
  if (seen && seen.offset > 0 && (!at || (sameLine(seen, at) && at.offset < seen.offset))) return false
  if (floor.offset === 0) return true
  if (!at) return false
  if (at.history && floor.history) return includes(at.history, at.offset, floor.history, floor.offset)
  if (floor.master !== undefined && at.master !== floor.master) return false
  return at.offset >= floor.offset
}

/** `ryw1:<offset>` (history unknown: still read), `ryw2:<replid>:<offset>`. */
const TOKEN = /^(?:ryw1|ryw2:([0-9a-f]{40})):(0|[1-9]\d{0,15})$/

/**
 * A token for the state after a write, to carry to another process: `ryw2:<replid>:<offset>`, or
 * `ryw1:<offset>` when the history is not known (a user refused INFO).
 */
export function formatToken(at: Pick<Position, 'offset' | 'history'>): string {
  return at.history ? `ryw2:${at.history.replid}:${at.offset}` : `ryw1:${at.offset}`
}

/** The position in a token from {@link formatToken} (it names no master); `INVALID_OPTION` for anything else. */
export function parseToken(token: unknown): Position {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null
  const offset = Number(match?.[2] ?? Number.NaN)
  if (!Number.isSafeInteger(offset)) {
    throw new InvalidOptionError('token', 'a token from `await tr.writeToken()` ("ryw2:<replid>:<offset>")')
  }
  const replid = match?.[1]
  return replid ? { offset, master: undefined, history: { replid } } : { offset, master: undefined }
}

/** The floor when offsets cannot be read at all (no ROLE, no INFO): no replica reaches it. */
export const UNREACHABLE: Position = { offset: Number.MAX_SAFE_INTEGER, master: undefined }

/** The later of two positions: the higher offset of one history, else the one seen last (`b`). */
export function later(a: Position | undefined, b: Position | undefined): Position | undefined {
  if (!a || !b) return b ?? a
  return sameLine(a, b) && a.offset > b.offset ? a : b
}
