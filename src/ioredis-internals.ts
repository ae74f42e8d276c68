/**
 * Every ioredis internal twiceredis relies on, typed, in one place: nothing else casts ioredis.
 * Each is private or undocumented in ioredis; test/integration/ioredis-internals.test.ts checks
 * every one against the installed ioredis and names the internal that changed when one does.
 */
import type { Socket } from 'node:net'
import { type AbstractConnector, Command, Redis } from 'ioredis'
import Parser from 'redis-parser'

/** What ioredis keeps on a `Redis` instance that a subclass has to reach. */
interface Hidden {
  /** The `Connector` ioredis built from `options.Connector`: ours, so we read the node it chose. */
  connector: AbstractConnector
  /** The socket of the current connection (`undefined` before the first connect). */
  stream?: Socket
  /** ioredis' pending reconnect while status is `reconnecting`. */
  reconnectTimeout: NodeJS.Timeout | null
  /** Set by `disconnect()`; reset only by ioredis' close handler, which a failed connect never reaches. */
  manuallyClosing: boolean
  setStatus(status: 'end'): void
  flushQueue(error: Error): void
}

const hidden = (client: Redis) => client as unknown as Hidden

/** The connector instance of `client` (ioredis constructs it; we never see it otherwise). */
export function connectorOf<C extends AbstractConnector>(client: Redis): C {
  return hidden(client).connector as C
}

/** A `QUIT` was written on the connection (or `disconnect()` called): nothing may follow it there. */
export function closingManually(client: Redis): boolean {
  return hidden(client).manuallyClosing
}

/** The current socket, to watch its traffic (health check) or destroy it. */
export function streamOf(client: Redis): Socket | undefined {
  return hidden(client).stream
}

/**
 * Drop the connection as if the network had: ioredis then runs its own close handling
 * (`retryStrategy`, resending unfulfilled commands), unlike `disconnect()`, which ends the client.
 */
export function dropStream(client: Redis, error?: Error): void {
  hidden(client).stream?.destroy(error)
}

/** Cancel ioredis' pending reconnect timer, if any, to connect at once (a new master was announced). */
export function cancelReconnectTimer(client: Redis): boolean {
  const h = hidden(client)
  if (!h.reconnectTimeout) return false
  clearTimeout(h.reconnectTimeout)
  h.reconnectTimeout = null
  return true
}

/**
 * Let only replies that `accept` takes reach ioredis on `client`'s connection; anything else
 * drops the connection (ioredis then reconnects with its retry strategy) before ioredis sees it.
 * Each chunk of the socket is parsed (with `redis-parser`, ioredis 5's own parser) and handed to
 * ioredis only if every reply it completes is accepted. For connections whose replies ioredis
 * does not guard itself (its subscriber mode: see subscriber-replies.ts). Call on `connect`
 * (ioredis emits it on the next tick, once its reply handler listens, before any data arrives).
 */
export function guardReplies(client: Redis, accept: (reply: unknown) => boolean): void {
  const stream = hidden(client).stream
  if (!stream) return
  let fine = true
  const parser = new Parser({
    returnReply: (reply: unknown) => {
      fine &&= accept(reply)
    },
    returnError: (error: Error) => {
      fine &&= accept(error)
    },
    returnFatalError: () => {
      fine = false
    },
    returnBuffers: true,
  })
  for (const listener of stream.listeners('data') as ((chunk: Buffer) => void)[]) {
    stream.removeListener('data', listener)
    stream.prependListener('data', (chunk: Buffer) => {
      if (fine) parser.execute(chunk)
      if (fine) listener(chunk)
      else stream.destroy(new Error('the server sent a reply that makes no sense here'))
    })
  }
}

/**
 * Let ioredis' pending reconnect not keep the process alive (the sentinel watch's subscriptions,
 * which a client at rest holds for good, retrying a sentinel that is gone). Call on `reconnecting`
 * (ioredis emits it on the next tick, once the timer is set).
 */
export function unrefReconnectTimer(client: Redis): void {
  hidden(client).reconnectTimeout?.unref?.()
}

/**
 * `disconnect()` while ioredis is `reconnecting` only clears its timer and never reaches `end`
 * (the close handler already ran): finish the close as ioredis would, so `end` is emitted and
 * queued commands are rejected.
 */
export function endWhileReconnecting(client: Redis): void {
  const h = hidden(client)
  h.manuallyClosing = false
  h.setStatus('end')
  h.flushQueue(new Error('Connection is closed.'))
}

/**
 * `disconnect()` during a connect that then fails (it was still asking the sentinels) leaves
 * `manuallyClosing` set, and ioredis would treat the next outage as a manual close (no retry,
 * commands failed). Called before every connect of ours.
 */
export function clearManualClose(client: Redis): void {
  hidden(client).manuallyClosing = false
}

/** A reply as ioredis hands it to a command before converting it, with the protocol it came in. */
export type RawReply = { ok: true; value: unknown; context: ReplyContext } | { ok: false; error: Error }
type ReplyContext = { protocol: number; replyMapping: string } | undefined

/**
 * A copy of `command` whose raw reply is caught instead of converted, to settle the original with
 * it ({@link CaughtReply.settle}, which converts it as ioredis would: encoding, reply transformers
 * such as HGETALL's or ioredis 6's RESP3 ones). Relies on ioredis calling `command.resolve` with
 * the raw reply and converting inside it, by the reply context (`setReplyContext`, ioredis 6) it
 * gave the command when sending it.
 */
export function rawReplyCopy(command: Command): { copy: Command; reply: Promise<RawReply> } {
  const copy = new Command(command.name, command.args, { replyEncoding: null })
  const reply = new Promise<RawReply>((resolve) => {
    copy.resolve = (value: unknown) => {
      const { protocol, replyMapping } = copy as unknown as { protocol?: number; replyMapping?: string }
      resolve({
        ok: true,
        value,
        context: protocol === undefined ? undefined : { protocol, replyMapping: replyMapping ?? 'legacy' },
      })
      return copy.promise
    }
    copy.reject = (error: Error) => resolve({ ok: false, error })
  })
  return { copy, reply }
}

/** The reply of a command sent before it was known whether that reply may be used. */
export interface CaughtReply {
  /** Settle the command with its own reply, now or when it arrives (ioredis converts it). */
  deliver(): void
  /** Settle it with a copy's reply ({@link rawReplyCopy}); its own reply is dropped when it arrives. */
  settle(reply: RawReply): void
}

/**
 * Catch the reply of `command` (sent as usual, in its pipeline if any) until {@link CaughtReply}
 * says what to do with it. Relies on ioredis settling a command by calling its `resolve(raw)` /
 * `reject(error)` properties (set per command in `initPromise`), looked up at reply time.
 */
export function catchReply(command: Command): CaughtReply {
  const own = { resolve: command.resolve, reject: command.reject }
  let arrived: RawReply | undefined
  let fate: 'deliver' | 'drop' | undefined
  const release = () => {
    if (!arrived || !fate) return
    Object.assign(command, own)
    if (fate === 'drop') return
    if (arrived.ok) own.resolve(arrived.value)
    else own.reject(arrived.error)
  }
  command.resolve = (value: unknown) => {
    arrived = { ok: true, value, context: undefined }
    release()
    return command.promise
  }
  command.reject = (error: Error) => {
    arrived = { ok: false, error }
    release()
  }
  return {
    deliver() {
      fate = 'deliver'
      release()
    },
    settle(reply) {
      fate = 'drop'
      release()
      if (!reply.ok) return own.reject(reply.error)
      const withContext = command as unknown as { setReplyContext?: (context: ReplyContext) => void }
      if (reply.context) withContext.setReplyContext?.(reply.context)
      own.resolve(reply.value)
    },
  }
}

/** The names of ioredis' options that have a default (`Redis.defaultOptions`, private in its types). */
export function ioredisOptionNames(): string[] {
  return Object.keys((Redis as unknown as { defaultOptions: object }).defaultOptions)
}

type SendCommand = Redis['sendCommand'] & { __original?: Redis['sendCommand'] }
type Stream = Parameters<Redis['sendCommand']>[1]

/**
 * Queue a command while the client is not ready, past any APM wrapper of `sendCommand`.
 * Instrumentations (OpenTelemetry's ioredis one) wrap `Redis.prototype.sendCommand` with shimmer,
 * which keeps the unwrapped function as `__original`, and open a span at every call; ioredis
 * sends a queued command through `sendCommand` again once ready. Queued through the original, a
 * command gets one span, opened when it is written, with the node that serves it (not yet known
 * while the side connects; ioredis' tracing channels trace writes only). `force`: queued whatever
 * `enableOfflineQueue` says (a connect of twiceredis' own, a command of ours).
 */
export function queueUntraced(client: Redis, command: Command, stream?: Stream, force = false): unknown {
  const send = Redis.prototype.sendCommand as SendCommand
  const { options } = client
  const offline = options.enableOfflineQueue
  options.enableOfflineQueue = force || offline
  try {
    return (send.__original ?? send).call(client, command, stream)
  } finally {
    options.enableOfflineQueue = offline
  }
}

/**
 * Put a command in ioredis' offline queue although the socket is open (`status` `connect`: past
 * the TCP connect, before ready). Then ioredis writes at once the commands Redis flags `loading`
 * (PUBLISH, MULTI, EXEC, SELECT, ROLE, ...) and (ioredis 6) its handshake commands (SELECT,
 * CLIENT, AUTH, ...): to a node the role check may still refuse. ioredis decides by `status`
 * alone; for this one call it sees the state before the socket connected, so the command waits
 * with the others (with ioredis' bookkeeping: SELECT's db, timeouts) and goes once the node is accepted.
 */
export function queueOffline(client: Redis, command: Command, stream?: Stream, force = false): unknown {
  const target = client as unknown as { status: string }
  const status = target.status
  target.status = 'connecting'
  try {
    return queueUntraced(client, command, stream, force)
  } finally {
    target.status = status
  }
}

export type ReadyCheck = (callback: (error: Error | null, info?: Record<string, string>) => void) => void

/**
 * Replace ioredis' ready check, `_readyCheck(callback)`: the INFO whose fields ioredis hands to
 * `connector.check()` before it flushes its queue and reports ready. ioredis asks for every
 * section (about 5 KB to produce, send and split per connect); the role check needs two.
 */
export function replaceReadyCheck(client: Redis, check: ReadyCheck): void {
  ;(client as unknown as { _readyCheck: ReadyCheck })._readyCheck = check
}

/**
 * Call `settled` as ioredis settles `command` (its reply parsed, or the command failed), before
 * the promise the application holds does. Wraps the command's `resolve`/`reject`, which ioredis
 * assigns per command and calls from its reply parser and its queues; a `then()` on the promise
 * instead would count as handling it and hide the application's unhandled rejections.
 */
export function onSettled(command: Command, settled: (error?: Error) => void): void {
  const { resolve, reject } = command
  command.resolve = (value: unknown) => {
    settled()
    return resolve(value)
  }
  command.reject = (error: Error) => {
    settled(error)
    return reject(error)
  }
}

type OfflineQueue = { length: number; toArray(): { command: Command }[] }
const queueOf = (client: Redis) => (client as unknown as { offlineQueue?: OfflineQueue }).offlineQueue

/** How many commands wait for a connection (ioredis' private `offlineQueue`, a Denque), and which. */
export const offlineQueueLength = (client: Redis): number => queueOf(client)?.length ?? 0
export const offlineCommands = (client: Redis): Command[] => (queueOf(client)?.toArray() ?? []).map((i) => i.command)

/**
 * Write `command` now, during ioredis' handshake (status `connect`, before ready), though it is no
 * handshake command of ioredis': the role check's `ROLE` for a user refused `INFO`. ioredis 6 lets
 * only its handshake commands through while `condition.handshake` is set, and ioredis 5 and 6 let
 * loading-safe commands (ROLE is) through once it is not: for this one call it is not.
 */
export function sendInHandshake(client: Redis, command: Command): void {
  const condition = (client as unknown as { condition?: { handshake?: boolean } }).condition
  const was = condition?.handshake
  if (condition) condition.handshake = false
  try {
    void queueUntraced(client, command)
  } finally {
    if (condition) condition.handshake = was
  }
}
