/**
 * Pure: whether to take a sentinel's answer about the master, and where a sentinel stands in an
 * instance's order after answering. No I/O.
 */
import type { NatMap } from 'ioredis'
import type { Target } from './events.js'
import { formatAddress, pairs } from './topology.js'

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

/** Apply `natMap`: `address` stays the announced one; `host`/`port` are where to connect. */
export function natTarget(natMap: NatMap | undefined, host: string, port: number, role: Target['role']): Target {
  const address = formatAddress(host, port)
  const mapped = typeof natMap === 'function' ? natMap(address) : natMap?.[address]
  return { host: mapped?.host ?? host, port: mapped?.port ?? port, address, announcedHost: host, role }
}

/** The `config-epoch` in a `SENTINEL MASTER <name>` reply; `undefined` if absent or not a count. */
export function configEpoch(reply: unknown): number | undefined {
  const field = pairs(reply)['config-epoch']
  const epoch = Number(field)
  return field !== undefined && field !== '' && Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : undefined
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

/** `list` with the first item `is` picks moved to the front. */
export function toFront<T>(list: readonly T[], is: (item: T) => boolean): T[] {
  const item = list.find(is)
  return item === undefined ? [...list] : [item, ...list.filter((s) => s !== item)]
}

/** `list` with the first item `is` picks moved to the back: a sentinel whose answer was refused is asked last. */
export function toBack<T>(list: readonly T[], is: (item: T) => boolean): T[] {
  const item = list.find(is)
  return item === undefined ? [...list] : [...list.filter((s) => s !== item), item]
}

/** Of answers refused only for their epoch, the one to take when no sentinel gave a better one: the highest epoch. */
export function bestOf<T extends MasterAnswer>(answers: readonly T[]): T | undefined {
  return answers.reduce<T | undefined>(
    (best, a) => (!best || (a.epoch ?? -1) > (best.epoch ?? -1) ? a : best),
    undefined,
  )
}

/** `list` with the items `refused` picks behind the others, each part in its order (newly learned sentinels go before refused ones). */
export function refusedLast<T>(list: readonly T[], refused: (item: T) => boolean): T[] {
  return [...list.filter((s) => !refused(s)), ...list.filter(refused)]
}
