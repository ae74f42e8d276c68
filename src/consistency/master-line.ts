import { markInternal } from '../client/connection.js'
import type { SessionClient } from './session-client.js'

/** How long the session's own line to the master stays open after its last use. */
const LINE_MS = 1000

/**
 * A connection to the master for commands of the session's own (a ROLE, a read moved from a
 * replica) while `tr.master` cannot take them: inside the application's MULTI (they would be
 * queued, answer QUEUED), behind its blocking command (they would wait as long) or subscribed.
 * A duplicate of `tr.master` (same credentials, TLS, db; outside the write fence), opened on demand and quit once unused
 * for `LINE_MS`, or as `tr.master` ends (`quit()`, `disconnect()`: its MULTI or BLPOP ended with
 * it); its ROLE is answered by the master after every write acknowledged before it.
 */
export class MasterLine {
  #line: SessionClient | undefined
  #timer: NodeJS.Timeout | undefined
  readonly #lines = new WeakSet<SessionClient>()
  /** Stops listening for the end of the `tr.master` a line was opened for. */
  #unlisten: (() => void) | undefined

  /** Whether `client` is a line of ours (not a connection of the application's). */
  has(client: SessionClient): boolean {
    return this.#lines.has(client)
  }

  /** The line to `master`'s node, in `db`. */
  open(master: SessionClient, db: number): SessionClient {
    let line = this.#line
    if (line && (line.status === 'end' || (line.options.db ?? 0) !== db)) {
      this.#retire(line)
      line = undefined
    }
    if (!line) {
      // Ours, not a write client of the application's: its ROLE is a read, holding it for a fence
      // would only delay the session (lazy, so it is marked before it connects). Its commands wait
      // for its connect, whatever the application's `enableOfflineQueue` says.
      const opened = master.duplicate({ db, lazyConnect: true, enableOfflineQueue: true }) as SessionClient
      markInternal(opened)
      const ended = () => this.#retire(opened)
      master.once('end', ended)
      this.#unlisten = () => master.off('end', ended)
      this.#lines.add(opened)
      this.#line = opened
      line = opened
    }
    clearTimeout(this.#timer)
    const used = line
    this.#timer = setTimeout(() => this.#retire(used), LINE_MS).unref()
    return line
  }

  /** Nothing new goes over `line`; it closes once what it carries is answered. */
  #retire(line: SessionClient): void {
    if (this.#line === line) {
      this.#line = undefined
      clearTimeout(this.#timer)
      this.#unlisten?.()
      this.#unlisten = undefined
    }
    closeWhenAnswered(line)
  }
}

/**
 * quit() waits for the replies pending on a ready connection, but rejects what waits in the
 * offline queue of one still connecting (a read moved there as `tr.master` closed): let that
 * connect end first (bounded by `connectTimeoutMs`).
 */
function closeWhenAnswered(line: SessionClient): void {
  if (line.status !== 'connecting' && line.status !== 'connect') {
    line.quit().catch(() => line.disconnect())
    return
  }
  const settled = () => {
    line.off('ready', settled).off('close', settled)
    closeWhenAnswered(line)
  }
  line.once('ready', settled).once('close', settled)
}
