import { Command, type Redis } from 'ioredis'
import { type CommandKind, kindOf } from '../command-kinds.js'
import { TransactionAbortedError } from '../errors.js'
import { onSettled } from '../ioredis-internals.js'
import type { Connection } from './connection.js'

type Stream = Parameters<Redis['sendCommand']>[1]

/**
 * The transaction stage of a command's path, over the connection record's guards (see
 * transactions.ts): the rest of a `MULTI` lost with its connection is refused, an `EXEC` whose
 * `WATCH` was lost is aborted. Our own commands never come here.
 */
export class TransactionStage {
  constructor(
    private readonly connection: Connection,
    /** The master name, for the error. */
    private readonly name: string,
    /** Write past every stage (ioredis' own `sendCommand`). */
    private readonly write: (command: Command, stream?: Stream) => unknown,
  ) {}

  /** Before ready, with the socket already destroyed: refuse now if it is the rest of a lost transaction. */
  refusesWhileDropping(command: Command, stream?: Stream): unknown {
    const kind = kindOf(command.name)
    if (!this.connection.transaction.written(kind, true, this.#abandoned, command).refuse) return undefined
    return this.#refuse(command, stream, kind)
  }

  /**
   * Whether a command of this kind passes with nothing to guard or follow (most commands: no
   * transaction open or lost, and it changes nothing of the connection's state): write it as is.
   */
  passes(kind: CommandKind): boolean {
    return !kind.state && !this.connection.transaction.active
  }

  /** Write `command` of the application's on the open connection, as its transaction allows. */
  send(command: Command, stream: Stream | undefined, kind: CommandKind): unknown {
    const connection = this.connection
    const written = connection.transaction.written(kind, false, this.#abandoned, command)
    if (written.refuse) return this.#refuse(command, stream, kind)
    if (written.reply) onSettled(command, written.reply)
    const watch = connection.watch.written(kind)
    if (watch.abort) return this.#abortExec(command, stream)
    const answered = watch.reply
    if (answered) onSettled(command, (error) => answered(!error))
    if (kind.state) connection.written(command, kind)
    return this.write(command, stream)
  }

  /** The application abandoned a refused transaction: the `WATCH` that guarded it ends with it. */
  readonly #abandoned = () => this.connection.watch.clear()

  /**
   * A command of a transaction whose `MULTI` went with an earlier connection: refused, not run
   * outside the transaction (see TransactionGuard); a `WATCH` that guarded it ends with it.
   */
  #refuse(command: Command, stream: Stream | undefined, { name }: CommandKind): unknown {
    if (name === 'exec' || name === 'discard') this.connection.watch.clear()
    command.reject(new TransactionAbortedError(this.name))
    // In a pipeline, ioredis writes the batch once every command of it was written or refused.
    if (stream && 'isPipeline' in stream && stream.isPipeline) stream.write('')
    return command.promise
  }

  /**
   * The `WATCH` guarding this `EXEC` went with its connection: the transaction is discarded and
   * the `EXEC` answers `null`, as Redis answers when a watched key changed (see WatchGuard).
   */
  #abortExec(exec: Command, stream?: Stream): unknown {
    const discard = new Command('discard')
    // In a pipeline it takes the EXEC's place (ioredis aborts a pipeline cut by a reconnect by these).
    discard.pipelineIndex = exec.pipelineIndex
    discard.inTransaction = exec.inTransaction
    discard.promise.then(
      () => exec.resolve(null),
      (error: Error) => exec.reject(error),
    )
    this.write(discard, stream)
    return exec.promise
  }
}
