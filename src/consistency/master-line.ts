import type { SessionClient } from './session-client.js'

/** How long the session's own line to the master stays open after its last use. */
const LINE_MS = 1000

/**
 * A connection to the master for commands of the session's own (a ROLE, a read moved from a
 * replica) while `tr.master` cannot take them: inside the application's MULTI (they would be
 * queued, answer QUEUED), behind its blocking command (they would wait as long) or subscribed.
 * A duplicate of `tr.master` (same credentials, TLS, db), opened on demand and quit once unused
 * for `LINE_MS`; its ROLE is answered by the master after every write acknowledged before it.
 */
export class MasterLine {
  #line: SessionClient | undefined
  #timer: NodeJS.Timeout | undefined
  readonly #lines = new WeakSet<SessionClient>()

  /** Whether `client` is a line of ours (not a connection of the application's). */
  has(client: SessionClient): boolean {
    return this.#lines.has(client)
  }

  /** The line to `master`'s node, in `db`. */
  open(master: SessionClient, db: number): SessionClient {
    let line = this.#line
    if (line && (line.status === 'end' || (line.options.db ?? 0) !== db)) {
      this.#close(line)
      line = undefined
    }
    if (!line) {
      line = master.duplicate({ db }) as SessionClient
      this.#lines.add(line)
      this.#line = line
    }
    clearTimeout(this.#timer)
    const used = line
    this.#timer = setTimeout(() => this.#close(used), LINE_MS).unref()
    return line
  }

  #close(line: SessionClient): void {
    if (this.#line === line) this.#line = undefined
    line.quit().catch(() => line.disconnect())
  }
}
