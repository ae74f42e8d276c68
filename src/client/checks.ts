import type { Redis } from 'ioredis'
import type { TwiceRedisConnector } from '../connector.js'
import { AuthenticationError, RoleCheckDeniedError, redact, TwiceRedisError } from '../errors.js'
import type { Side, Target } from '../events.js'
import { HealthCheck, type Verdict } from '../health-check.js'
import { connectorOf } from '../ioredis-internals.js'
import type { Metrics } from '../metrics/metrics.js'
import { isAuthError } from '../protocol/auth-error.js'
import type { Resolver } from '../routing/resolver.js'
import type { Connection } from './connection.js'
import type { Reconnect } from './reconnect.js'

type Checked = Redis & {
  readonly side: Side
  readonly node: Target | undefined
  readonly connection: Connection
  metrics: Metrics | undefined
}

/** The health check of one side, wired to its lifecycle, its connection record and its verdicts. */
export function healthCheckOf(
  client: Checked,
  resolver: Resolver,
  life: Reconnect,
  /** A transaction or `WATCH` of the application's is open. */
  holdsState: () => boolean,
  report: (error: TwiceRedisError) => void,
): HealthCheck {
  const o = resolver.options
  const side = client.side
  // A replica silent for longer than maxStalenessMs may be that stale when it answers again: leave it.
  const silenceMs =
    side === 'replica' && o.maxStalenessMs !== undefined
      ? Math.min(o.connectTimeoutMs, o.maxStalenessMs)
      : o.connectTimeoutMs
  return new HealthCheck(client, side, resolver, o.healthCheckIntervalMs, silenceMs, {
    info: (target, info) => client.metrics?.health(target, info),
    silent: () => life.holdWatch(),
    // The read side avoids it for a while: chosen again, it would hold reads for connectTimeoutMs.
    unresponsive: (reason) => side === 'replica' && connectorOf<TwiceRedisConnector>(client).reject(reason),
    verdict: (verdict) => onVerdict(client, verdict, holdsState, report),
    done: () => {
      if (client.status === 'ready') life.whileReady()
    },
    busy: () => holdsState() || client.connection.blocked > 0,
    own: (command) => client.connection.own(command),
  })
}

/**
 * What ioredis' fatal error becomes: a refused role check or password fails what is queued with
 * our typed error and stops (`stop`: retrying only adds load; the next command tries again).
 */
export function fatalError(commandError: Error, err: Error, address: string | undefined) {
  if (err instanceof RoleCheckDeniedError) return { commandError: err, err, stop: true }
  if (!isAuthError(err)) return { commandError, err, stop: false }
  const error = new AuthenticationError('data', address ?? 'unknown', { cause: redact(err) })
  return { commandError: error, err: error, stop: true }
}

/**
 * Act on a health check's verdict: leave an unfit node (avoided for a while), move back to a
 * (closer) replica, or report a typed error.
 */
export function onVerdict(
  client: Redis,
  verdict: Verdict,
  holdsState: () => boolean,
  report: (error: TwiceRedisError) => void,
): void {
  if (verdict.kind === 'error') {
    if (verdict.error instanceof TwiceRedisError) report(verdict.error)
    return
  }
  if (verdict.kind === 'unfit') connectorOf<TwiceRedisConnector>(client).reject(verdict.reason, true)
  // A move for the better waits for the application's WATCH or MULTI (they would be lost with it).
  else if (holdsState()) return
  client.disconnect(true)
}
