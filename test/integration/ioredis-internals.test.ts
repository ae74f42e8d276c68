// One test per ioredis internal in src/ioredis-internals.ts, against the installed ioredis and a
// real node: when an ioredis version changes one, the failure names it.
import assert from 'node:assert/strict'
import { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { AbstractConnector, Command, Redis, type RedisOptions } from 'ioredis'
import { onReply } from '../../src/cache/reply.js'
import {
  cancelReconnectTimer,
  catchReply,
  clearManualClose,
  connectorOf,
  dropStream,
  endWhileReconnecting,
  guardReplies,
  ioredisOptionNames,
  offlineCommands,
  offlineQueueLength,
  onSettled,
  queueOffline,
  queueUntraced,
  rawReplyCopy,
  replaceReadyCheck,
  streamOf,
  unrefReconnectTimer,
} from '../../src/ioredis-internals.js'
import type { Lab } from '../../src/lab/index.js'
import { lab as startLab } from '../helpers/lab.js'
import { until } from '../helpers/load.js'

/** A connector to the lab's master that records what ioredis hands it. */
function recordingConnector(lab: Lab, delayMs = 0) {
  const seen: { info?: Record<string, string> } = {}
  class Recording extends AbstractConnector {
    async connect() {
      this.connecting = true
      await new Promise((r) => setTimeout(r, delayMs))
      if (!this.connecting) throw new Error('Connection is closed.')
      this.stream = new Socket().connect(lab.master.port, lab.master.host)
      return this.stream
    }
    override check(info: Record<string, string>) {
      seen.info = info
      return true
    }
  }
  return { Recording, seen }
}

const internal = (name: string, what: string) => `ioredis internal \`${name}\` changed: ${what}`

describe('ioredis internals twiceredis relies on', () => {
  let lab: Lab
  const clients: Redis[] = []
  const open = (options: RedisOptions) => {
    const client = new Redis({ lazyConnect: true, ...options })
    client.on('error', () => {})
    clients.push(client)
    return client
  }
  before(async () => {
    lab = await startLab({ replicas: 0, sentinels: 1 })
  })
  after(async () => {
    for (const c of clients) c.disconnect()
    await lab.stop()
  })

  it('`connector`: the instance ioredis builds from options.Connector; its `check(info)` gets the ready check INFO', async () => {
    const { Recording, seen } = recordingConnector(lab)
    const client = open({ Connector: Recording as never })
    await client.connect()
    assert.ok(connectorOf(client) instanceof Recording, internal('connector', 'not our Connector instance'))
    assert.equal(seen.info?.role, 'master', internal('connector.check', 'not called with the INFO fields'))
  })

  it('`stream`: the socket of the current connection; destroying it is an unplanned close', async () => {
    let asked = 0
    const client = open({
      port: lab.master.port,
      retryStrategy: () => {
        asked++
        return 10
      },
    })
    await client.ping()
    const stream = streamOf(client)
    assert.ok(stream instanceof Socket && stream.remotePort === lab.master.port, internal('stream', 'not the socket'))
    dropStream(client)
    await until(() => client.status === 'ready' && streamOf(client) !== stream, 'a new connection')
    assert.equal(asked, 1, internal('stream', 'destroying it did not make ioredis ask its retryStrategy'))
  })

  it('`reconnectTimeout`: the pending reconnect while reconnecting, which we may cancel and replace', async () => {
    const client = open({ port: lab.master.port, retryStrategy: () => 60_000 })
    await client.ping()
    dropStream(client)
    await until(() => client.status === 'reconnecting', 'reconnecting')
    assert.ok(cancelReconnectTimer(client), internal('reconnectTimeout', 'not set while reconnecting'))
    assert.equal(cancelReconnectTimer(client), false, internal('reconnectTimeout', 'not cleared'))
    await client.connect()
    assert.equal(client.status, 'ready')
  })

  it('`reconnectTimeout` is set by the time ioredis emits `reconnecting`: it can be unref()ed', async () => {
    const client = open({ port: lab.master.port, retryStrategy: () => 60_000 })
    await client.ping()
    const reconnecting = new Promise<void>((resolve) =>
      client.once('reconnecting', () => {
        unrefReconnectTimer(client)
        resolve()
      }),
    )
    dropStream(client)
    await reconnecting
    const timer = (client as unknown as { reconnectTimeout: NodeJS.Timeout | null }).reconnectTimeout
    assert.ok(timer, internal('reconnectTimeout', 'not set when `reconnecting` is emitted'))
    assert.equal(timer.hasRef(), false, internal('reconnectTimeout', 'not a Node timer'))
    cancelReconnectTimer(client)
  })

  it("`stream` 'data' listeners: ioredis' reply handler listens by `connect`; a guard in front of it keeps replies from it", async () => {
    const client = open({ port: lab.master.port, retryStrategy: () => null })
    let guarded = false
    client.once('connect', () => {
      guardReplies(client, (reply) => !(Buffer.isBuffer(reply) && reply.toString() === 'PONG'))
      guarded = true
    })
    const seen = await client.ping().catch((e: Error) => e)
    assert.ok(guarded, internal('stream', 'no `connect` before the first reply'))
    assert.ok(seen instanceof Error, internal('DataHandler', `the refused reply reached ioredis: ${String(seen)}`))
  })

  it('`setStatus`/`flushQueue`/`manuallyClosing`: a disconnect() while reconnecting can be finished to `end`', async () => {
    const client = open({ port: lab.master.port, retryStrategy: () => 60_000 })
    await client.ping()
    dropStream(client)
    await until(() => client.status === 'reconnecting', 'reconnecting')
    const queued = client.get('k').catch((e: Error) => e)
    let ended = false
    client.once('end', () => {
      ended = true
    })
    client.disconnect()
    endWhileReconnecting(client)
    const error = await queued
    assert.equal(
      (error as Error).message,
      'Connection is closed.',
      internal('flushQueue', 'queued commands not rejected'),
    )
    await until(() => ended, internal('setStatus', "no 'end' event"), 2000)
    assert.equal(client.status, 'end', internal('setStatus', 'status not end'))
  })

  it('`manuallyClosing`: left set by a disconnect() during a failing connect, until cleared', async () => {
    const attempt = async (clear: boolean) => {
      const { Recording } = recordingConnector(lab, 100)
      const client = open({ Connector: Recording as never, retryStrategy: () => 10 })
      const connecting = client.connect().catch(() => {})
      client.disconnect() // while the connector still "resolves"
      await connecting
      if (clear) clearManualClose(client)
      await client.connect()
      const events: string[] = []
      for (const e of ['reconnecting', 'end']) client.once(e, () => events.push(e))
      dropStream(client)
      await until(() => events.length > 0, 'reconnecting or end')
      return events[0]
    }
    assert.equal(
      await attempt(false),
      'end',
      internal('manuallyClosing', 'no longer left set: clearManualClose may go'),
    )
    assert.equal(await attempt(true), 'reconnecting', internal('manuallyClosing', 'clearing it no longer works'))
  })

  it('`Command.resolve`/`reject`: per reply, with the raw value, converting inside by the reply context (catchReply, rawReplyCopy)', async () => {
    for (const protocol of [2, 3]) {
      const client = open({ port: lab.master.port, protocol } as RedisOptions)
      await client.del('z')
      await client.zadd('z', 1, 'a', 2, 'b')
      const expected = await client.zrange('z', '0', '-1', 'WITHSCORES')
      const zrange = () => new Command('zrange', ['z', 0, -1, 'WITHSCORES'], { replyEncoding: 'utf8' })
      const own = zrange()
      const caught = catchReply(own)
      client.sendCommand(own)
      await client.ping()
      caught.deliver()
      assert.deepEqual(
        await own.promise,
        expected,
        internal('Command.resolve', 'its own reply, caught, was not converted once'),
      )
      const original = zrange()
      const held = catchReply(original)
      client.sendCommand(original)
      const { copy, reply } = rawReplyCopy(original)
      client.sendCommand(copy)
      held.settle(await reply)
      assert.deepEqual(
        await original.promise,
        expected,
        internal('Command.resolve', `a copy's reply over RESP${protocol} was not converted as its own`),
      )
      const failing = new Command('incr', ['z'], { replyEncoding: 'utf8' })
      const heldFailing = catchReply(failing)
      client.sendCommand(failing)
      const copied = rawReplyCopy(failing)
      client.sendCommand(copied.copy)
      heldFailing.settle(await copied.reply)
      await assert.rejects(
        failing.promise,
        /WRONGTYPE/,
        internal('Command.reject', 'the error did not reach the original'),
      )
    }
  })

  it('`Redis.defaultOptions`: the names of ioredis options, to tell them from typos', () => {
    const names = ioredisOptionNames()
    for (const name of ['maxRetriesPerRequest', 'keyPrefix', 'enableAutoPipelining', 'retryStrategy', 'lazyConnect']) {
      assert.ok(names.includes(name), internal('Redis.defaultOptions', `no ${name}`))
    }
  })

  it('`_readyCheck(callback)`: its fields go to `connector.check()`, then ioredis flushes its queue and is ready', async () => {
    const { Recording, seen } = recordingConnector(lab)
    const client = open({ Connector: Recording as never })
    const order: string[] = []
    replaceReadyCheck(client, (callback) => {
      order.push('ready check')
      client.info('replication').then((text) => callback(null, { role: 'master', ours: 'yes', info: text }))
    })
    await client.ping().then(() => order.push('queued command')) // connects the lazy client
    assert.equal(seen.info?.ours, 'yes', internal('_readyCheck', 'ioredis did not call the replacement'))
    assert.deepEqual(order, ['ready check', 'queued command'], internal('_readyCheck', 'the queue went before it'))
  })

  it('`status` read by `sendCommand`: queueOffline holds a command ioredis would write before ready until ready', async () => {
    const order: string[] = []
    const attempt = async (hold: boolean) => {
      order.length = 0
      const { Recording } = recordingConnector(lab)
      const client = open({ Connector: Recording as never })
      replaceReadyCheck(client, (callback) => {
        // SELECT is flagged `loading` (ioredis 5 writes those at once while `connect`) and is a
        // handshake command (so does ioredis 6).
        const select = new Command('select', ['0'], { replyEncoding: 'utf8' })
        if (hold) queueOffline(client, select)
        else client.sendCommand(select)
        select.promise.then(() => order.push('select'))
        client.info('replication').then(() => {
          order.push('ready check')
          callback(null, { role: 'master' })
        })
      })
      await client.connect()
      await until(() => order.length === 2, 'both replies')
      return [...order]
    }
    assert.deepEqual(await attempt(false), ['select', 'ready check'], internal('sendCommand', 'no longer writes it'))
    assert.deepEqual(await attempt(true), ['ready check', 'select'], internal('status', 'queueOffline did not hold it'))
  })

  it('`sendCommand` wrapped by an APM (shimmer keeps `__original`): a queued command passes the wrapper once', async () => {
    const original = Redis.prototype.sendCommand
    const wrapped: string[] = []
    const wrapper = function (this: Redis, command: Command, stream?: never) {
      wrapped.push(`${command.name} ${this.status}`)
      return original.call(this, command, stream)
    }
    Object.assign(wrapper, { __original: original })
    Redis.prototype.sendCommand = wrapper as typeof original
    try {
      const client = open({ port: lab.master.port })
      const command = new Command('ping', [], { replyEncoding: 'utf8' })
      queueUntraced(client, command) // not connected yet: into ioredis' offline queue
      assert.equal(await command.promise, 'PONG')
      assert.deepEqual(
        wrapped.filter((w) => w.startsWith('ping')),
        ['ping ready'],
        internal('sendCommand', 'the offline queue is no longer sent through sendCommand once ready'),
      )
    } finally {
      Redis.prototype.sendCommand = original
    }
  })
  it('`Command.resolve`/`reject`: per-command functions ioredis calls to settle it, before the promise settles', async () => {
    const client = open({ port: lab.master.port })
    const seen: string[] = []
    const ok = new Command('ping', [], { replyEncoding: 'utf8' })
    onSettled(ok, (error) => seen.push(error ? `error ${error.message}` : 'ok'))
    const reply = client.sendCommand(ok) as Promise<unknown>
    assert.equal(await reply, 'PONG')
    await client.set('s', 'v')
    const failing = new Command('incr', ['s'], { replyEncoding: 'utf8' })
    onSettled(failing, (error) => seen.push(error ? 'error' : 'ok'))
    await assert.rejects(client.sendCommand(failing) as Promise<unknown>, /ERR/)
    assert.deepEqual(seen, ['ok', 'error'], internal('Command.resolve/reject', 'not called to settle the command'))
  })

  it('`Command.resolve` converts with `transformReply` (onReply, the client cache): the converted reply, before the promise settles', async () => {
    const client = open({ port: lab.master.port })
    await client.hset('or', 'f', 'v')
    const seen: unknown[] = []
    const hgetall = new Command('hgetall', ['or'], { replyEncoding: 'utf8' })
    onReply(hgetall, (value, error) => seen.push(error ? 'error' : value))
    const reply = client.sendCommand(hgetall) as Promise<unknown>
    const settled = reply.then(() => seen.length)
    assert.deepEqual(await reply, { f: 'v' })
    assert.equal(await settled, 1, internal('Command.resolve', 'settled the promise before converting the reply'))
    assert.deepEqual(seen, [{ f: 'v' }] as unknown[], internal('Command.transformReply', 'not called by resolve()'))
    const failing = new Command('hgetall', ['or', 'extra'], { replyEncoding: 'utf8' })
    onReply(failing, (_, error) => seen.push(error ? 'error' : 'ok'))
    await assert.rejects(client.sendCommand(failing) as Promise<unknown>)
    assert.deepEqual(seen.at(-1), 'error')
  })

  it('`offlineQueue`: commands waiting for a connection', async () => {
    const client = open({ port: lab.master.port })
    assert.equal(offlineQueueLength(client), 0)
    const pings = [client.ping(), client.ping()] // lazy: queued until connected
    assert.equal(offlineQueueLength(client), 2, internal('offlineQueue', 'queued commands not counted'))
    const names = offlineCommands(client).map((c) => c.name)
    assert.deepEqual(names, ['ping', 'ping'], internal('offlineQueue', 'toArray() gives no { command } items'))
    await Promise.all(pings)
    assert.equal(offlineQueueLength(client), 0, internal('offlineQueue', 'not emptied once connected'))
  })
})
