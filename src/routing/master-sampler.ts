import { Redis, type RedisOptions } from 'ioredis'
import { FixedConnector } from '../connector.js'
import type { Target } from '../events.js'
import { credentialsFor, type ResolvedOptions } from '../options/normalize.js'
import { isPermissionError } from '../protocol/auth-error.js'
import { infoFromRole, parseInfo } from '../protocol/node-info.js'
import { type SentinelSet, sentinelSetFor } from '../sentinels/registry.js'
import type { Resolver } from './resolver.js'

/**
 * What one TwiceRedis with `maxStalenessMs` gives the process' sampler of its master, and takes
 * from it: how often it wants a sample, where the master is, how to connect, and the samples.
 */
export interface SampleMember {
  readonly intervalMs: number
  /** The master the sentinels name now (an answer up to `maxAgeMs` old; `natMap` applied), unless `allowedNodes` keeps it out. */
  master(maxAgeMs: number): Promise<Target | undefined>
  /** The connection options for the master (credentials, TLS, timeouts) of this member. */
  connection(target: Target): RedisOptions
  /** The master at `address` answered `info` (its `INFO replication` fields) at `at`. */
  sampled(address: string, info: Record<string, string>, at: number): void
  /** The sampler asks the master for it from `since` on; `undefined`: no longer (it left, or may not ask). */
  watching(since: number | undefined): void
}

/**
 * `maxStalenessMs` in a process that never writes: the staleness of a replica is judged against
 * the master's offset over time, and without writes nothing of the process asks the master. So the
 * process samples the master itself, once per health-check interval (the shortest of its
 * members'), with one `INFO replication` over one connection of its own, shared by every
 * TwiceRedis of the process on the same sentinel set (the registry holds one sampler per set):
 * a thousand instances cost the master one connection and one command per interval. The
 * connection opens with the first member and closes as the last one leaves.
 *
 * The connection is a plain one (no fence, session, health check or idle timer of a side): the
 * sample is its only command. A master that stops answering as master (demoted) or a connection
 * that fails is dropped; the next tick asks the sentinels where the master is now. A failed sample
 * only leaves the estimate coarser (the bound errs on the stale side), so nothing is reported.
 */
export class MasterSampler {
  readonly #members = new Set<SampleMember>()
  #timer: NodeJS.Timeout | undefined
  #intervalMs = 0
  #line: { client: Redis; target: Target } | undefined
  #busy = false
  #roleOnly = false
  /** The user may run neither INFO nor ROLE: no sample is possible (the estimate falls back to the other sources). */
  #denied = false
  /** The node sampled last said it is no master: the next tick takes a fresh sentinel answer. */
  #demoted = false

  /** `idle`: the last member left (the registry forgets this sampler). */
  constructor(private readonly idle: () => void) {}

  /** `member` needs samples from now on; the returned function says it no longer does. */
  join(member: SampleMember): () => void {
    this.#members.add(member)
    if (!this.#denied) member.watching(Date.now())
    this.#schedule()
    return () => this.#leave(member)
  }

  /** How many TwiceRedis use this sampler (for tests and reports). */
  get members(): number {
    return this.#members.size
  }

  #leave(member: SampleMember): void {
    // The line stays open for the others even if it was opened with this member's options: the
    // members share a sentinel set, and a reconnect per leaving instance would be churn.
    if (!this.#members.delete(member)) return
    member.watching(undefined)
    if (this.#members.size > 0) {
      this.#schedule()
      return
    }
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#intervalMs = 0
    this.#close()
    this.idle()
  }

  #schedule(): void {
    const ms = Math.min(...[...this.#members].map((m) => m.intervalMs))
    if (ms === this.#intervalMs && this.#timer) return
    clearInterval(this.#timer)
    this.#intervalMs = ms
    this.#timer = setInterval(() => this.#tick(), ms).unref()
    this.#tick()
  }

  #tick(): void {
    if (this.#busy || this.#denied || this.#members.size === 0) return
    this.#busy = true
    this.#sample()
      .catch(() => this.#close())
      .finally(() => {
        this.#busy = false
      })
  }

  async #sample(): Promise<void> {
    let line = this.#line
    if (!line || line.client.status === 'end') {
      this.#close()
      const by = this.#members.values().next().value as SampleMember
      const target = await by.master(this.#demoted ? 0 : this.#intervalMs)
      if (!target || !this.#members.has(by)) return
      const client = new Redis({ ...by.connection(target), Connector: FixedConnector.to(target) } as RedisOptions)
      client.on('error', () => {}) // a failed sample closes the line; the next tick opens another
      line = { client, target }
      this.#line = line
    }
    const info = await this.#ask(line.client)
    const at = Date.now()
    if (this.#line !== line) return
    this.#demoted = info.role !== 'master'
    if (this.#demoted) {
      this.#close() // the sentinels name the master now
      return
    }
    for (const member of this.#members) member.sampled(line.target.address, info, at)
  }

  /** `INFO replication`, or `ROLE` for a user refused INFO (no replication IDs then). */
  async #ask(client: Redis): Promise<Record<string, string>> {
    if (!this.#roleOnly) {
      try {
        return parseInfo(String(await client.info('replication')))
      } catch (error) {
        if (!isPermissionError(error)) throw error
        this.#roleOnly = true
      }
    }
    try {
      return infoFromRole(await client.role())
    } catch (error) {
      if (isPermissionError(error)) {
        this.#denied = true
        for (const member of this.#members) member.watching(undefined)
      }
      throw error
    }
  }

  #close(): void {
    const line = this.#line
    this.#line = undefined
    line?.client.disconnect()
  }
}

/** A TwiceRedis' membership of its process' sampler: what {@link MasterSampler} needs of its Resolver. */
export function sampleMember(resolver: Resolver): SampleMember {
  const o = resolver.options
  return {
    intervalMs: o.healthCheckIntervalMs,
    async master(maxAgeMs) {
      const seen = await resolver.sentinels.observe(maxAgeMs)
      return resolver.target(seen.master.host, seen.master.port, 'master')
    },
    connection() {
      const { username, password } = credentialsFor(o, 'master')
      const data = { ...o.redisOptions, ...o.masterOptions }
      return {
        username,
        password,
        tls: data.tls,
        connectTimeout: o.connectTimeoutMs,
        // A master that hangs costs a sample, not the line: every command is bounded.
        commandTimeout: o.connectTimeoutMs,
        lazyConnect: true,
        enableReadyCheck: false,
        disableClientInfo: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      }
    },
    sampled(address, info, at) {
      const history = resolver.histories.learn(address, info)
      resolver.masterOffsets.add(address, Number(info.master_repl_offset), at, 'sampler', history)
    },
    watching(since) {
      resolver.masterOffsets.watching(since)
    },
  }
}

/** One sampler per sentinel set, while it has members (the set itself never knows of it). */
const samplers = new WeakMap<SentinelSet, MasterSampler>()

/** The process-wide sampler of the master of these options' sentinel set. */
export function samplerFor(o: ResolvedOptions): MasterSampler {
  const set = sentinelSetFor(o)
  let sampler = samplers.get(set)
  if (!sampler) {
    sampler = new MasterSampler(() => samplers.delete(set))
    samplers.set(set, sampler)
  }
  return sampler
}
