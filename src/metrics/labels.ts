import type { Side, Target } from '../events.js'
import { isAuthError } from '../protocol/auth-error.js'

/** Attributes of a data point. */
export type Attributes = Record<string, string | number | boolean>

/** A replica as a health check last saw it: its offset (lag is the master's latest offset minus it). */
export interface Lag {
  host: string
  port: number
  offset: number
  linkDownMs: number
  at: number
}

/** How a read was served, counted for `twiceredis.reads` (an attribute's value). */
export type ReadKey = 'replica' | 'fallback' | 'freshness'

/** A low-cardinality name for an error: our codes, Node's (`ECONNRESET`), a Redis error's prefix. */
export function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') return code
  if (error.name === 'ReplyError') return /^[A-Z][A-Z_]+/.exec(error.message)?.[0] ?? 'ReplyError'
  return error.name || 'Error'
}

/** Why a node was refused, as one of a few words (the `node-rejected` reason is free text). */
export function rejectionReason(reason: string): string {
  if (/allowedNodes/.test(reason)) return 'allowed-nodes'
  if (/^reports role/.test(reason)) return 'role'
  if (/\blag\b/.test(reason)) return 'lag'
  if (/master link/.test(reason)) return 'link'
  if (/^flagged/.test(reason)) return 'flagged'
  if (/connect|ready|ECONN|EHOST|ETIMEDOUT/.test(reason)) return 'connect'
  return 'other'
}

/** How a sentinel failed a discovery. */
export function sentinelOutcome(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown }
  const message = typeof e?.message === 'string' ? e.message : String(error)
  if (/did not answer within/.test(message)) return 'timeout'
  if (isAuthError(error)) return 'auth'
  if (e?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return 'refused'
  if (/no usable address/.test(message)) return 'bad-answer'
  return 'error'
}

export function split(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i).replace(/^\[|\]$/g, '')
  return { host, port: Number(address.slice(i + 1)) }
}

/**
 * The attributes of a command's duration: the same object each time for a node and command name
 * (no allocation per command); one with an error, or without a node, is made afresh.
 */
export class CommandAttributes {
  readonly #byNode = new WeakMap<Target, Map<string, Attributes>>()

  constructor(private readonly db: number) {}

  of(name: string, side: Side, node: Target | undefined, error: Error | undefined): Attributes {
    if (error || !node) return this.#make(name, side, node, error)
    let byName = this.#byNode.get(node)
    if (!byName) {
      byName = new Map()
      this.#byNode.set(node, byName)
    }
    let attributes = byName.get(name)
    if (!attributes) {
      attributes = this.#make(name, side, node, undefined)
      byName.set(name, attributes)
    }
    return attributes
  }

  #make(name: string, side: Side, node: Target | undefined, error: Error | undefined): Attributes {
    const attributes: Attributes = {
      'db.system.name': 'redis',
      'db.namespace': String(this.db),
      'db.operation.name': name.toUpperCase(),
      'twiceredis.side': side,
    }
    if (node) {
      attributes['server.address'] = node.host
      attributes['server.port'] = node.port
      attributes['twiceredis.node.role'] = node.role
    }
    if (error) attributes['error.type'] = errorType(error)
    return attributes
  }
}
