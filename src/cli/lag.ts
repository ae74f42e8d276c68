import { Redis } from 'ioredis'
import type { TwiceRedis } from '../index.js'
import { credentialsFor, type ResolvedOptions } from '../options/normalize.js'
import { parseInfo } from '../protocol/node-info.js'

/** How far behind the master a replica is, and where the figure comes from. */
export interface Lag {
  bytes: number
  /**
   * `replica`: its own offset, read right after the master's (a replica caught up shows 0);
   * `sentinel`: the sentinels' last INFO of it, `ageMs` old, against the master's offset now.
   */
  from: 'replica' | 'sentinel'
  ageMs?: number | undefined
}

/**
 * Each replica's lag, measured: the master's `master_repl_offset`, then each replica's own
 * `slave_repl_offset` (read after it, so a replica that has everything is 0 behind, not the
 * bytes the sentinels' own hellos added since their last INFO). A replica this process cannot
 * reach keeps the sentinels' figure, with its age (`info-refresh`). One round trip per node,
 * each bounded by `connectTimeoutMs`.
 */
export async function measureLag(
  tr: TwiceRedis,
  o: ResolvedOptions,
  replicas: readonly {
    address: string
    host: string
    port: number
    lagBytes?: number | undefined
    raw: Record<string, string>
  }[],
): Promise<Map<string, Lag>> {
  const out = new Map<string, Lag>()
  for (const r of replicas) {
    const age = Number(r.raw['info-refresh'])
    if (r.lagBytes !== undefined)
      out.set(r.address, { bytes: r.lagBytes, from: 'sentinel', ageMs: Number.isFinite(age) ? age : undefined })
  }
  if (tr.master.status !== 'ready' || tr.master.node?.role !== 'master') return out
  const { username, password } = credentialsFor(o, 'replica')
  const clients = replicas.map(
    (r) =>
      new Redis({
        host: r.host,
        port: r.port,
        username,
        password,
        lazyConnect: true,
        connectTimeout: o.connectTimeoutMs,
        commandTimeout: o.connectTimeoutMs,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        enableReadyCheck: false,
        disableClientInfo: true,
      }),
  )
  try {
    for (const client of clients) client.on('error', () => {})
    // Connected first, so that the replicas' INFO follows the master's by one round trip only.
    const connected = await Promise.all(
      clients.map((c) =>
        c.connect().then(
          () => true,
          () => false,
        ),
      ),
    )
    const master = Number(parseInfo(String(await tr.master.info('replication'))).master_repl_offset)
    const offsets = await Promise.all(
      clients.map((c, i) =>
        connected[i]
          ? c.info('replication').then(
              (text) => Number(parseInfo(String(text)).slave_repl_offset),
              () => NaN,
            )
          : NaN,
      ),
    )
    replicas.forEach((r, i) => {
      const offset = offsets[i]!
      if (Number.isSafeInteger(master) && Number.isSafeInteger(offset)) {
        out.set(r.address, { bytes: Math.max(0, master - offset), from: 'replica' })
      }
    })
  } finally {
    for (const client of clients) client.disconnect()
  }
  return out
}
