/** Where twiceredis' own sentinel connections are traced: `twiceredis:sentinel-connect`, not `ioredis:connect`. */
import * as diagnostics from 'node:diagnostics_channel'
import { Redis } from 'ioredis'

/** The context of each connect, as `ioredis:connect`'s, plus the master asked about. */
export interface SentinelConnectContext {
  serverAddress: string
  serverPort: number
  masterName: string
}

type Traced = { hasSubscribers?: boolean; tracePromise<T>(fn: () => Promise<T>, context: object): Promise<T> }
// Node 18.19+ / 19.9+ (and where `tracingChannel` is missing, nothing to trace on).
const channel: Traced | undefined =
  typeof diagnostics.tracingChannel === 'function'
    ? (diagnostics.tracingChannel('twiceredis:sentinel-connect') as unknown as Traced)
    : undefined

/**
 * Make every connect of `client`, a sentinel connection of twiceredis' (a discovery's query, a
 * failover subscription and its reconnects), traced on `twiceredis:sentinel-connect` instead of
 * ioredis' `ioredis:connect`. That one traces each connect of `tr.master`, `tr.slave` or a
 * `duplicate()` once, its span covering discovery and the role check, as a direct ioredis
 * client's covers its TCP connect and handshake. A sentinel query is shared by every
 * discovery of the process asking at the time, and a subscription by every instance: inside one
 * application connect, it would be counted as that client's connection.
 *
 * ioredis traces in `connect()` around its private `_connect()` (ioredis 5.11+ and 6; before,
 * `connect()` traces nothing); ioredis reconnects and lazy clients connect through the instance's
 * `connect()`, which this replaces.
 */
export function traceAsSentinel(client: Redis, context: SentinelConnectContext): void {
  const internal = client as unknown as { _connect?: () => Promise<void> }
  const connect =
    typeof internal._connect === 'function'
      ? () => (internal._connect as () => Promise<void>).call(client)
      : () => Redis.prototype.connect.call(client)
  client.connect = (() => {
    if (!channel || channel.hasSubscribers === false) return connect()
    return channel.tracePromise(connect, { ...context })
  }) as Redis['connect']
}
