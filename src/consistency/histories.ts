import { type History, historyOf, type Position } from '../protocol/node-info.js'

/**
 * The replication history each data node was last seen on, by address: learned from every
 * `INFO replication` the process reads of it (the role check on each connect, the health checks,
 * the master sampler). The session asks `ROLE` (cheap, on every read after a write), which names
 * no history: its positions get the one the node was last seen on, as long as the node still
 * follows the same master (a node that changed master changed history too: unknown until its next
 * INFO, and judged by the master's address meanwhile). A node that changes history without
 * changing master (`REPLICAOF NO ONE`) is seen at the next health check, one interval later.
 */
export class NodeHistories {
  readonly #byNode = new Map<string, { history: History; master: string | undefined; at: number }>()

  /** The node at `address` answered `info` (its `INFO replication` fields): the history they name, if any. */
  learn(address: string, info: Record<string, string>): History | undefined {
    const history = historyOf(info)
    if (!history) this.#byNode.delete(address)
    else this.#byNode.set(address, { history, master: masterOf(info), at: Date.now() })
    return history
  }

  /**
   * The history of a replica the read side is not connected to, as its last INFO named it: only
   * while it still follows `master` (the sentinels say) and for {@link JUDGED_MS} (a replica that
   * resynced since is on its master's history again, and nothing else would ever look again).
   */
  recent(address: string, master: string, now = Date.now()): History | undefined {
    const known = this.#byNode.get(address)
    return known && known.master === master && now - known.at <= JUDGED_MS ? known.history : undefined
  }

  /** `at`, a position the node at `address` gave, with the history it was last seen on (if it still fits). */
  attach(address: string | undefined, at: Position): Position {
    if (at.history || address === undefined) return at
    const known = this.#byNode.get(address)
    // A master's position names itself; a replica's, the master it follows.
    if (!known || known.master !== (at.master === address ? undefined : at.master)) return at
    return { ...at, history: known.history }
  }
}

/** How long a replica found on another history is passed over by selection (as one that failed a check). */
const JUDGED_MS = 5000

/** The master a replica follows (`undefined` for a master). */
function masterOf(info: Record<string, string>): string | undefined {
  return info.role === 'slave' ? `${info.master_host}:${info.master_port}` : undefined
}
