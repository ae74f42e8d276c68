/**
 * Pure: whether to take a sentinel's answer about the master (`allowedNodes` after `natMap`, the
 * config epoch). No I/O. Where its sentinel then stands in the order is sentinel-order.ts.
 */
import type { NatMap } from 'ioredis'
import { natTarget } from '../protocol/address.js'

/** The highest config epoch a sentinel set has reported, and the master it came with. */
export interface Epoch {
  value: number
  /** The master named with it, `host:port`. */
  master: string
  /** The sentinel that reported it. */
  sentinel: string
}

/** What a sentinel said about the master: where it is, and with which config epoch (if it said). */
export interface MasterAnswer {
  sentinel: string
  master: { host: string; port: number; address: string }
  epoch?: number | undefined
}

/** Why the master an answer names must not be used (after `natMap`, outside `allowedNodes`), or `undefined`. */
export function masterNotAllowed(
  master: MasterAnswer['master'],
  allowedNodes: ((host: string) => boolean) | undefined,
  natMap: NatMap | undefined,
): string | undefined {
  if (!allowedNodes) return undefined
  const target = natTarget(natMap, master.host, master.port, 'master')
  if (allowedNodes(target.host)) return undefined
  const via = target.host === master.host ? '' : ` (natMap: ${target.host})`
  return `master ${master.address}${via} is not in allowedNodes`
}

/**
 * Why an answer is stale, or `undefined`: it names another master than the one named with a
 * higher config epoch. Sentinels converge on the master of the highest epoch; a lower one comes
 * from a sentinel that has not heard of the last failover yet.
 */
export function staleEpoch(answer: MasterAnswer, highest: Epoch | undefined): string | undefined {
  if (!highest || answer.epoch === undefined || answer.epoch >= highest.value) return undefined
  if (highest.master === answer.master.address) return undefined
  return `config epoch ${answer.epoch} is older than epoch ${highest.value}, in which ${highest.sentinel} named master ${highest.master}`
}

/** The highest epoch after taking `answer` (it only moves up, or to another master at the same epoch). */
export function raiseEpoch(highest: Epoch | undefined, answer: MasterAnswer): Epoch | undefined {
  if (answer.epoch === undefined || (highest && answer.epoch < highest.value)) return highest
  return { value: answer.epoch, master: answer.master.address, sentinel: answer.sentinel }
}

/** Of answers refused only for their epoch, the one to take when no sentinel gave a better one: the highest epoch. */
export function bestOf<T extends MasterAnswer>(answers: readonly T[]): T | undefined {
  return answers.reduce<T | undefined>(
    (best, a) => (!best || (a.epoch ?? -1) > (best.epoch ?? -1) ? a : best),
    undefined,
  )
}
