import { AuthenticationError, MasterNotFoundError, NoSentinelReachableError, redact } from '../errors.js'
import type { ResolvedOptions } from '../options/normalize.js'
import { formatAddress } from '../protocol/address.js'
import { isAuthError } from '../protocol/auth-error.js'
import { bestOf, type Epoch, masterNotAllowed, raiseEpoch, staleEpoch } from './answers.js'
import { type KnownSentinel, refreshSentinels, refusedLast, shuffle, toBack, toFront } from './sentinel-order.js'
import { type Observation, querySentinel } from './sentinel-query.js'

/** A learned sentinel no answer has mentioned for this long is dropped from the list. */
const SENTINEL_GONE_MS = 10 * 60_000

/** Told when a sentinel did not answer a discovery. */
export type FailureListener = (sentinel: string, error: unknown) => void

/** A sentinel's answer that was not taken: who said what, and why not. */
export interface Refusal {
  sentinel: string
  master: string
  reason: string
}

/** Told when a sentinel's answer was refused. */
export type RefusalListener = (refusal: Refusal) => void

/** Everyone waiting on a discovery hears of each sentinel that failed and each answer refused. */
export interface DiscoveryListener {
  failed: FailureListener
  refused: RefusalListener
}

/**
 * What the `Sentinels` of every TwiceRedis of a process on one sentinel set share (the registry
 * keeps it): the discovery in flight with everyone waiting on it, the latest answer, and the master
 * an announced switch retired.
 */
export interface SharedAnswer {
  inflight?: { query: Promise<Observation>; listeners: Set<DiscoveryListener> } | undefined
  /** The latest answer, which automatic retries and health checks may reuse for a short while. */
  last?: { at: number; value: Observation } | undefined
  /**
   * A master an announcement replaced (`address`) by `master`: until `until`, an answer naming it
   * comes from a sentinel that has not heard of the switch, and `master` is used instead.
   */
  retired?: { address: string; master: Observation['master']; until: number } | undefined
  /** The highest config epoch an answer taken came with: an answer naming another master with a lower one is stale. */
  epoch?: Epoch | undefined
}

/** How one sentinel answered a query: `undefined` it answered, `null` it does not monitor the name, else the error. */
export type QueryListener = (sentinel: string, outcome: unknown) => void

/** What `topology()` reports about one sentinel. */
export interface SentinelReport {
  address: string
  reachable: boolean
  /** Connect plus one round trip, in ms. */
  rttMs?: number
  /** Whether it monitors the master name. */
  knowsMaster?: boolean
  /** Why it did not answer. */
  error?: string
}

/** @internal what a probe of one sentinel found, with its full answer */
export interface SentinelProbe extends SentinelReport {
  observation?: Observation | undefined
}

/**
 * The sentinels of one TwiceRedis, asked the way the Sentinel client guidelines ask
 * (https://redis.io/docs/latest/develop/reference/sentinel-clients/): the list is shuffled once,
 * tried in order with a short timeout each, and the first that answers moves to the front.
 * An answer that is refused (its master outside `allowedNodes`, older than the highest config
 * epoch seen, or refused by the node itself) moves its sentinel to the back instead, and the
 * others are asked first.
 *
 * Every query opens a connection, asks, and closes it (the "disconnecting sentinel"): at rest we
 * hold no sentinel connection. Concurrent queries share one round trip.
 */
export class Sentinels {
  #list: KnownSentinel[]
  readonly #o: ResolvedOptions
  readonly #set: SharedAnswer
  readonly #listener: DiscoveryListener
  /** Sentinels whose last answer was refused: behind the others until one of their answers is taken. */
  readonly #refused = new Set<string>()
  readonly #onQuery: QueryListener

  /**
   * `shared`: what the instances of the process on this sentinel set share (see registry.ts).
   * `onFailure` hears of every sentinel that failed a discovery this instance waited for (shared
   * ones included), `onRefused` of every answer refused, `onQuery` of each sentinel this instance
   * asked itself, once per query.
   */
  constructor(
    options: ResolvedOptions,
    shared: SharedAnswer = {},
    onFailure: FailureListener = () => {},
    onRefused: RefusalListener = () => {},
    onQuery: QueryListener = () => {},
  ) {
    this.#o = options
    this.#listener = { failed: onFailure, refused: onRefused }
    this.#onQuery = onQuery
    this.#set = shared
    this.#list = shuffle(options.sentinels).map((s) => ({ ...s, learned: false, lastSeen: Date.now() }))
  }

  /** The sentinels in the order they will be tried next. */
  get addresses(): string[] {
    return this.#list.map((s) => formatAddress(s.host, s.port))
  }

  /** Move a sentinel to the front of the list, as if it had answered first. */
  prefer(address: string): void {
    this.#refused.delete(address)
    this.#list = toFront(this.#list, (s) => formatAddress(s.host, s.port) === address)
  }

  /** Move a sentinel to the back of the list: its answer was refused. */
  demote(address: string): void {
    this.#refused.add(address)
    this.#list = toBack(this.#list, (s) => formatAddress(s.host, s.port) === address)
  }

  /** The master a sentinel named was refused after a connect (role check, unreachable): ask the others first. */
  refuse(refusal: Refusal): void {
    this.demote(refusal.sentinel)
    this.#listener.refused(refusal)
  }

  /**
   * Master and replicas as the first answering sentinel sees them. Every TwiceRedis of the
   * process on the same sentinels and master shares the query in flight: a crowd of clients
   * reconnecting at once asks the sentinels once. A query that starts later asks again
   * (discovery on every reconnect, as the guidelines ask), except that an automatic retry in an
   * outage may take an answer younger than `maxAgeMs`: a thousand clients retrying with backoff
   * then ask a few times a second, not a thousand.
   */
  observe(maxAgeMs = 0): Promise<Observation> {
    const set = this.#set
    const last = set.last
    if (maxAgeMs > 0 && last && Date.now() - last.at < maxAgeMs) {
      this.#learn(last.value)
      return Promise.resolve(last.value)
    }
    let flight = set.inflight
    if (!flight) {
      const listeners = new Set<DiscoveryListener>()
      const startedAt = Date.now()
      const query = this.#observe(listeners).then((value) => {
        const retired = set.retired
        if (retired && retired.until > Date.now() && value.master.address === retired.address) {
          // This sentinel has not heard of the switch the process acted on: its master is retired.
          const replicas = value.replicas.filter((r) => r.address !== retired.master.address)
          return { ...value, master: retired.master, replicas, announced: true }
        }
        // A switch announced while this query was out is newer than its answer: keep it.
        if (!(set.last && set.last.at > startedAt)) set.last = { at: Date.now(), value }
        return value
      })
      flight = { query, listeners }
      set.inflight = flight
      const done = () => {
        if (set.inflight?.query === query) set.inflight = undefined
      }
      query.then(done, done)
    }
    flight.listeners.add(this.#listener)
    return flight.query.then((o) => {
      this.#learn(o)
      return o
    })
  }

  /** The master at `address` said it is not one: no client of the process may reuse an answer naming it. */
  forget(address: string): void {
    const set = this.#set
    if (set.last?.value.master.address === address) set.last = undefined
    if (set.retired?.master.address === address) set.retired = undefined
    if (set.epoch?.master === address) set.epoch = undefined
  }

  /**
   * Take in an answer: its sentinel to the front, and the sentinels it knows into the list (the
   * guidelines' list refresh; within `allowedNodes`, so a lying sentinel cannot plant others).
   */
  #learn(o: Observation): void {
    this.#list = refreshSentinels(this.#list, o.sentinels, Date.now(), {
      goneMs: SENTINEL_GONE_MS,
      allowed: this.#o.allowedNodes,
    })
    if (this.#refused.size) {
      this.#list = refusedLast(this.#list, (s) => this.#refused.has(formatAddress(s.host, s.port)))
    }
    if (!o.announced && !o.refused) this.prefer(o.sentinel)
  }

  /**
   * Ask the sentinels in order until one gives an answer to take; `listeners` hear of each that
   * did not answer and of each answer refused. An answer older than the highest config epoch seen
   * is kept aside: when no sentinel gives a better one, the highest of those is taken. When every
   * answer is refused for `allowedNodes`, the first comes back marked `refused`.
   */
  async #observe(listeners: ReadonlySet<DiscoveryListener>): Promise<Observation> {
    const set = this.#set
    const unknownName: string[] = []
    const failures: { address: string; error: unknown }[] = []
    const refused: { observation: Observation; reason: string }[] = []
    const stale: { observation: Observation; reason: string }[] = []
    const refuse = (o: Observation, reason: string) => {
      this.demote(o.sentinel)
      for (const listener of listeners) listener.refused({ sentinel: o.sentinel, master: o.master.address, reason })
    }
    for (const sentinel of [...this.#list]) {
      const address = formatAddress(sentinel.host, sentinel.port)
      try {
        const observation = await querySentinel(this.#o, sentinel)
        this.#onQuery(address, observation ? undefined : null)
        if (!observation) {
          unknownName.push(address)
          continue
        }
        const notAllowed = masterNotAllowed(observation.master, this.#o.allowedNodes, this.#o.natMap)
        if (notAllowed) {
          refused.push({ observation, reason: notAllowed })
          refuse(observation, notAllowed)
          continue
        }
        const older = staleEpoch(observation, set.epoch)
        if (older) {
          stale.push({ observation, reason: older })
          continue
        }
        for (const s of stale) refuse(s.observation, s.reason)
        return this.#take(observation)
      } catch (error) {
        this.#onQuery(address, error)
        failures.push({ address, error: redact(error) })
        for (const listener of listeners) listener.failed(address, error)
      }
    }
    // Only answers older than the epoch seen: that epoch's sentinel is gone, or was wrong.
    const best = bestOf(stale.map((s) => s.observation))
    if (best) {
      set.epoch = undefined
      return this.#take(best)
    }
    const first = refused[0]
    if (first) return { ...first.observation, refused: first.reason }
    if (unknownName.length) throw new MasterNotFoundError(this.#o.name, unknownName)
    const auth = failures.find((f) => isAuthError(f.error))
    if (auth) throw new AuthenticationError('sentinel', auth.address, { cause: auth.error })
    throw new NoSentinelReachableError(
      this.#o.name,
      failures.map((f) => f.address),
      { cause: failures.at(-1)?.error },
    )
  }

  #take(observation: Observation): Observation {
    this.#set.epoch = raiseEpoch(this.#set.epoch, observation)
    this.prefer(observation.sentinel)
    return observation
  }

  /**
   * Ask every sentinel at once (for introspection, not for routing): whether it answered, how
   * long the round trip took (connect included), and what it reported.
   */
  probe(): Promise<SentinelProbe[]> {
    return Promise.all(
      this.#list.map(async (sentinel): Promise<SentinelProbe> => {
        const address = formatAddress(sentinel.host, sentinel.port)
        const started = performance.now()
        try {
          const observation = await querySentinel(this.#o, sentinel)
          const rttMs = Math.round((performance.now() - started) * 10) / 10
          return { address, reachable: true, rttMs, knowsMaster: observation !== undefined, observation }
        } catch (error) {
          return { address, reachable: false, error: error instanceof Error ? error.message : String(error) }
        }
      }),
    )
  }
}
