/**
 * OpenTelemetry metrics of one TwiceRedis: the database-client semantic conventions for every
 * command of both sides, and what only a Sentinel client can tell (`twiceredis.*`).
 *
 * `@opentelemetry/api` is an optional peer dependency. Nothing is loaded, and nothing measured,
 * until a MeterProvider is registered: the check reads the API's process-wide registration (the
 * global every copy of API 1.x shares), and only then is the API itself imported, lazily, with a
 * dynamic `import()` that works from the ESM and the CommonJS build and in Bun, and that fails
 * quietly where the package is not installed. The check runs as a TwiceRedis is built and again
 * each time one of its sides becomes ready, so a provider registered later is picked up then.
 *
 * Per command the cost is two clock reads, a few map lookups and the SDK's `record()`; counts
 * that change per command (reads by where served) are plain integers read at collection time.
 */
import type * as Api from '@opentelemetry/api'
import type { Redis } from 'ioredis'
import type { CacheRecord } from '../cache/client-cache.js'
import type { Side, Target } from '../events.js'
import type { Attributes } from './labels.js'

/** Where any copy of `@opentelemetry/api` 1.x registers its global providers. */
const registry = Symbol.for('opentelemetry.js.api.1')

/** Semantic-convention buckets for durations in seconds (database client metrics). */
const SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]
/** Buckets for the `twiceredis.*` durations, in ms: a blip to a slow failover. */
const MILLISECONDS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000]

export type Loaded = { metrics: Api.MetricsAPI }
let api: Promise<Loaded | undefined> | undefined

/** Whether some copy of the API has a global MeterProvider (no module is loaded to tell). */
export function providerRegistered(): boolean {
  const global = (globalThis as Record<symbol, { metrics?: unknown } | undefined>)[registry]
  return global?.metrics !== undefined
}

export function loadApi(): Promise<Loaded | undefined> {
  // (Named exports, or a default export holding them, whichever the loader made of the module.)
  api ??= import('@opentelemetry/api').then(
    (m: Partial<Loaded> & { default?: Partial<Loaded> }) => {
      const metrics = m.metrics ?? m.default?.metrics
      return metrics && { metrics }
    },
    () => undefined,
  )
  return api
}

/** The client of one side, as the metrics see it (a TwiceRedisClient). */
export type MeasuredClient = Redis & { readonly side: Side; readonly node: Target | undefined }

/** The instruments, made once per MeterProvider and shared by every TwiceRedis of the process. */
export interface Instruments {
  provider: Api.MeterProvider
  duration: Api.Histogram
  createTime: Api.Histogram
  unavailable: Api.Histogram
  fenceDuration: Api.Histogram
  fenceHeld: Api.Counter
  sentinelQueries: Api.Counter
  rejected: Api.Counter
}

let shared: Instruments | undefined
/**
 * The TwiceRedis instances whose observable values are reported at collection time. Weakly: a
 * TwiceRedis disconnected and dropped by the application (not quit) must still be collected.
 */
export const live = new Set<WeakRef<Observed>>()

/** What reports observable values at collection time (a TwiceRedis' metrics). */
export interface Observed {
  observe(observe: Observe): void
}

export function instruments(a: Loaded): Instruments {
  const provider = a.metrics.getMeterProvider()
  if (shared?.provider === provider) return shared
  const meter = provider.getMeter('twiceredis')
  const histogram = (name: string, unit: string, description: string, buckets: number[]) =>
    meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: buckets } })
  shared = {
    provider,
    duration: histogram('db.client.operation.duration', 's', 'Duration of database client operations.', SECONDS),
    createTime: histogram(
      'db.client.connection.create_time',
      's',
      'The time it took to create a new connection (sentinel discovery, connect, handshake, role check).',
      SECONDS,
    ),
    unavailable: histogram(
      'twiceredis.write.unavailable',
      'ms',
      'Per outage of the write side: from the first write held or failed to the first write the master acknowledged.',
      MILLISECONDS,
    ),
    fenceDuration: histogram(
      'twiceredis.write.fence.duration',
      'ms',
      'How long the write fence held writes.',
      MILLISECONDS,
    ),
    fenceHeld: meter.createCounter('twiceredis.write.fence.held', {
      unit: '{command}',
      description: 'Commands the write fence held.',
    }),
    sentinelQueries: meter.createCounter('twiceredis.sentinel.queries', {
      unit: '{query}',
      description: 'Sentinels asked during a discovery, by outcome.',
    }),
    rejected: meter.createCounter('twiceredis.node.rejected', {
      unit: '{node}',
      description: 'Nodes refused after being chosen (role, link, lag, allowedNodes, connect), by reason.',
    }),
  }
  const count = meter.createObservableUpDownCounter('db.client.connection.count', {
    unit: '{connection}',
    description: 'The number of connections that are currently in state described by the state attribute.',
  })
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    unit: '{request}',
    description: 'The number of commands waiting for a connection.',
  })
  const reads = meter.createObservableCounter('twiceredis.reads', {
    unit: '{command}',
    description: 'Commands of the read side, by where they were served and why.',
  })
  const lag = meter.createObservableGauge('twiceredis.replica.lag', {
    unit: 'By',
    description:
      "How far a replica is behind its master, as the last health check saw it (the master's offset minus the replica's).",
  })
  const linkDown = meter.createObservableGauge('twiceredis.replica.link_down', {
    unit: 'ms',
    description: "How long a replica's link to its master has been down, as the last health check saw it (0: up).",
  })
  const cacheRequests = meter.createObservableCounter('twiceredis.cache.requests', {
    unit: '{command}',
    description: 'Cacheable reads of the read side (clientCache), by result: hit (from memory) or miss.',
  })
  const cacheFlushes = meter.createObservableCounter('twiceredis.cache.flushes', {
    unit: '{flush}',
    description: 'Times the client cache was emptied, by reason (an invalidation may have been missed).',
  })
  const observables = { count, pending, reads, lag, linkDown, cacheRequests, cacheFlushes }
  meter.addBatchObservableCallback((result) => {
    for (const ref of live) {
      const m = ref.deref()
      if (m) m.observe((name, value, attributes) => result.observe(observables[name], value, attributes))
      else live.delete(ref)
    }
  }, Object.values(observables))
  return shared
}

/** Reports one value of an observable instrument at collection time. */
export type Observe = (
  name: 'count' | 'pending' | 'reads' | 'lag' | 'linkDown' | 'cacheRequests' | 'cacheFlushes',
  value: number,
  attributes: Attributes,
) => void

/** The client cache's counters as observable values (`twiceredis.cache.requests`, `twiceredis.cache.flushes`). */
export function observeCache(observe: Observe, cache: CacheRecord): void {
  observe('cacheRequests', cache.hits, { 'twiceredis.result': 'hit' })
  observe('cacheRequests', cache.misses, { 'twiceredis.result': 'miss' })
  for (const [reason, n] of Object.entries(cache.flushesBy)) observe('cacheFlushes', n, { 'twiceredis.reason': reason })
}
