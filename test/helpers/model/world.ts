// The clients of one model run and what the model knows of them: per write client a counter key
// (INCR only, so every acknowledged write is a number the final master must still have), a list
// fed by LPUSH and drained by BLPOP, and a key holding a list for wrong-type commands. A logical
// clock orders issue and acknowledgement, so a session read knows which writes came before it.
import { TwiceRedis, type TwiceRedisClient, type TwiceRedisConfig } from '../../../src/index.js'
import type { Lab } from '../../../src/lab/index.js'

/** Every command settles within this bound, or the property fails naming it. */
export const BOUND_MS = 20_000
/** The instance with an idle timeout: its sides disconnect after this long without a command. */
export const IDLE_MS = 200

export interface Incr {
  /** Logical time the command carrying the INCR was sent, and when its reply came. */
  sent: number
  acked?: number
  reply?: number
}

export interface Writer {
  id: number
  inst: Inst
  client: TwiceRedisClient
  counter: string
  list: string
  wrong: string
  incrs: Incr[]
  /** Elements LPUSHed to `list`: sent, and acknowledged. */
  sentPushes: string[]
  pushed: string[]
  popped: string[]
  pushes: number
  closed: boolean
}

export interface Inst {
  id: number
  tr: TwiceRedis
  session: boolean
  idle: boolean
  writers: Writer[]
  /** Per key, the highest value a read of this instance's read side returned (monotonic reads). */
  seen: Map<string, number>
  /** Write clients of this instance the write fence holds now (write-fence minus write-unfence). */
  fenced: number
  closed: boolean
}

const IGNORE = process.env.MODEL_IGNORE ? new RegExp(process.env.MODEL_IGNORE) : undefined

/** A failed invariant: the property fails with this, after the run cleaned up. */
export class Violation extends Error {}

export class World {
  readonly insts: Inst[] = []
  readonly writers: Writer[] = []
  /** Everything sent and not yet known settled, by description. */
  readonly pending = new Map<Promise<unknown>, string>()
  /** Callback counts of callback-style commands: each must be called exactly once. */
  readonly callbacks: { what: string; calls: number }[] = []
  /** Commands left unhandled on purpose (wrong type): each must raise `unhandledRejection`. */
  readonly bare = new Map<Promise<unknown>, { what: string; settled: boolean }>()
  readonly unhandled: unknown[] = []
  readonly violations: string[] = []
  /** Rejections the model accepts (typed errors, a connection the test itself closed), by kind. */
  readonly rejected = new Map<string, number>()
  readonly log: string[] = []
  /** A failover or the sentinels cut off is under way (no replica is held back then). */
  failingOver = false
  /** Called on every write-unfence of every write client (the fault's ticker bursts then). */
  onUnfence: (() => void) | undefined
  /** What the run exercised (reads checked against a floor, fences, moved reads, ...). */
  readonly stats = new Map<string, number>()
  #clock = 0

  constructor(
    readonly lab: Lab,
    readonly run: number,
  ) {}

  now(): number {
    return ++this.#clock
  }

  /** Five instances, three write clients each (tr.master and two duplicates): 15 write clients. */
  async open(): Promise<void> {
    const base = { name: this.lab.masterName, sentinels: this.lab.sentinelAddresses }
    for (let i = 0; i < 5; i++) {
      const idle = i === 3
      const config: TwiceRedisConfig = {
        ...base,
        consistency: i === 4 ? 'eventual' : 'session',
        healthCheckIntervalMs: 200,
        maxRetriesPerRequest: null,
        redisOptions: { connectionName: `model-${this.run}-${i}` },
        ...(idle ? { idleTimeoutMs: IDLE_MS } : {}),
      }
      const tr = new TwiceRedis(config)
      const inst: Inst = { id: i, tr, session: i !== 4, idle, writers: [], seen: new Map(), fenced: 0, closed: false }
      this.insts.push(inst)
      tr.on('write-fence', () => {
        inst.fenced++
        this.count('fenced')
      })
      tr.on('write-unfence', () => {
        inst.fenced--
        this.onUnfence?.()
      })
      tr.on('read-from-master', () => this.count('read moved to the master'))
      const clients = [tr.master, tr.master.duplicate(), tr.master.duplicate()] as TwiceRedisClient[]
      for (const client of clients) {
        const id = this.writers.length
        const key = (what: string) => `model:${this.run}:${what}:${id}`
        const w: Writer = {
          id,
          inst,
          client,
          counter: key('c'),
          list: key('l'),
          wrong: key('w'),
          incrs: [],
          sentPushes: [],
          pushed: [],
          popped: [],
          pushes: 0,
          closed: false,
        }
        inst.writers.push(w)
        this.writers.push(w)
      }
    }
    // A list under each wrong-type key: INCR of it is rejected by Redis (WRONGTYPE).
    for (const w of this.writers) await this.lab.command(this.lab.master, 'RPUSH', w.wrong, 'x')
  }

  count(what: string, n = 1): void {
    this.stats.set(what, (this.stats.get(what) ?? 0) + n)
  }

  fail(message: string): void {
    // MODEL_IGNORE (a regular expression) leaves out known violations, to look for others.
    if (IGNORE?.test(message)) return
    this.violations.push(message)
  }

  /** Count an accepted rejection; anything else is a violation. */
  rejection(what: string, err: unknown): void {
    const e = err as { code?: string; message?: string; name?: string }
    const kind = e.code ?? (e.message === 'Connection is closed.' ? 'closed' : undefined)
    if (kind && ACCEPTED.has(kind)) {
      this.rejected.set(kind, (this.rejected.get(kind) ?? 0) + 1)
      return
    }
    this.fail(`${what}: rejected ${e.name}: ${e.message}`)
  }

  /** Track a command not awaited by the step that sent it; its outcome goes to `then`. */
  track<T>(what: string, promise: Promise<T>, then: (value: T) => void = () => {}): void {
    this.pending.set(promise, what)
    promise.then(
      (value) => {
        this.pending.delete(promise)
        then(value)
      },
      (err) => {
        this.pending.delete(promise)
        this.rejection(what, err)
      },
    )
  }

  /** A command carrying an INCR of `w`'s counter is being sent now. */
  sent(w: Writer): Incr {
    const record: Incr = { sent: this.now() }
    w.incrs.push(record)
    return record
  }

  /** An INCR sent on `w` and not awaited: its reply is an acknowledged write. */
  incr(w: Writer, what: string, promise: Promise<number>): void {
    const record = this.sent(w)
    this.track(what, promise, (reply) => this.ack(record, reply))
  }

  /** An awaited INCR: the step awaits the result. */
  incrPromise(w: Writer, promise: Promise<number>): Promise<number> {
    const record = this.sent(w)
    return promise.then((reply) => {
      this.ack(record, reply)
      return reply
    })
  }

  /** Wait (bounded) for every command not awaited so far. */
  async settled(): Promise<void> {
    await bounded(
      this,
      `commands in flight: ${[...this.pending.values()].join(', ')}`,
      Promise.allSettled(this.pending.keys()),
    )
  }

  ack(record: Incr, reply: unknown): void {
    this.count('INCR acknowledged')
    if (typeof reply !== 'number') this.fail(`an INCR answered ${JSON.stringify(reply)}`)
    record.reply = Number(reply)
    record.acked = this.now()
  }

  /** An INCR in callback style: the callback must be called exactly once. */
  incrCallback(w: Writer): void {
    const record: Incr = { sent: this.now() }
    w.incrs.push(record)
    const count = { what: `incr callback on writer ${w.id}`, calls: 0 }
    this.callbacks.push(count)
    w.client.incr(w.counter, (err, reply) => {
      count.calls++
      if (count.calls > 1) return this.fail(`${count.what}: called ${count.calls} times`)
      if (err) this.rejection(count.what, err)
      else this.ack(record, reply)
    })
  }

  /**
   * A command whose rejection the application leaves unhandled (INCR of a list): it must reach
   * `unhandledRejection`. Nothing is attached to it; a PING sent right behind it on the same
   * connection says when it was answered.
   */
  wrongType(w: Writer): void {
    const fenced = w.inst.fenced > 0 ? ', sent while the write fence stood' : ''
    const entry = { what: `wrong-type INCR on writer ${w.id}${fenced}`, settled: false }
    this.bare.set(w.client.incr(w.wrong), entry)
    const ping = w.client.ping()
    this.track(`PING behind ${entry.what}`, ping)
    const answered = () => {
      entry.settled = true
    }
    ping.then(answered, answered)
  }

  /** Floor of a read on `inst`'s read side issued at `at`: the writes it must see, by key. */
  floor(w: Writer, at: number): number {
    let floor = 0
    for (const r of w.incrs) if (r.acked !== undefined && r.acked < at) floor = Math.max(floor, r.reply ?? 0)
    return floor
  }

  live(): Writer[] {
    return this.writers.filter((w) => !w.closed)
  }

  liveInsts(): Inst[] {
    return this.insts.filter((i) => !i.closed)
  }
}

/** Rejections a command may meet in a run: typed errors, or a connection `disconnect()` closed. */
const ACCEPTED = new Set(['TRANSACTION_ABORTED', 'REPLICA_BEHIND', 'CLIENT_CLOSED', 'FAILOVER_IN_PROGRESS', 'closed'])

/** `work`, or a violation naming `what` once it took longer than `ms`. */
export async function bounded<T>(world: World, what: string, work: Promise<T>, ms = BOUND_MS): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), ms)
  })
  try {
    const outcome = await Promise.race([work.then((value) => ({ value })), hang])
    if (outcome === 'hang') {
      world.fail(`${what}: did not settle within ${ms} ms`)
      return undefined
    }
    return outcome.value
  } finally {
    clearTimeout(timer)
  }
}
