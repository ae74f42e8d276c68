/** Parsing the sentinel pub/sub messages twiceredis acts on. Pure. */
import { formatAddress } from './address.js'
import { parseMasterAddress } from './sentinel-replies.js'

/** A node as the sentinels name it in their events. */
export interface EventNode {
  host: string
  port: number
  address: string
}

/**
 * A sentinel event twiceredis acts on, for one master name:
 * - `switch-master`: `newMaster` is the master now (`from`: the one before);
 * - `replica-down`: a replica went subjectively down;
 * - `odown`: the master at `master` is objectively down (`on`) or no longer (`!on`);
 * - `failover`: a failover of the master at `master` started or moved on (`on`), or was aborted
 *   (`!on`); `candidate`: the replica the leader is promoting, once it chose one.
 */
export type SentinelEvent =
  | { type: 'switch-master'; master: string; newMaster: EventNode; from?: string | undefined }
  | { type: 'replica-down'; master: string; replica: string }
  | { type: 'odown'; master: string; on: boolean; node: string }
  | { type: 'failover'; master: string; on: boolean; node: string; candidate?: EventNode | undefined }

/** Failover steps of the leader whose message names the replica it promotes. */
const PROMOTING = new Set(['+selected-slave', '+failover-state-send-slaveof-noone', '+failover-state-wait-promotion'])

/**
 * Parse the sentinel pub/sub messages twiceredis acts on, for master `name`. Sentinel writes
 * `<type> <name> <ip> <port>` for a master and `<type> <ip:port> <ip> <port> @ <name> <master-ip>
 * <master-port>` for a replica (see `sentinelEvent` in Redis' sentinel.c):
 * - `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`, and the leader's
 *   `+promoted-slave` for a replica of our master (as soon as the replica it promoted reports itself
 *   master: from then on its `GET-MASTER-ADDR-BY-NAME` names it, while the other sentinels announce
 *   `+switch-master` only once its hello messages reach them, up to a hello period later);
 * - `+sdown` of a replica;
 * - `+odown` / `-odown` of the master;
 * - the failover's first words and steps: `+try-failover`, `+elected-leader`, `+failover-state-*`,
 *   `+selected-slave` (with the replica chosen), `+failover-end(-for-timeout)`, and its aborts
 *   `-failover-abort-*`.
 */
export function parseSentinelEvent(channel: string, message: string, name: string): SentinelEvent | undefined {
  const words = message.split(' ')
  const node = (host: string | undefined, port: string | undefined): EventNode | undefined => {
    const next = parseMasterAddress([host, port])
    return next ? { ...next, address: formatAddress(next.host, next.port) } : undefined
  }
  const ofMaster = words[0] === 'master' && words[1] === name
  const ofReplica = words[0] !== 'master' && words[4] === '@' && words[5] === name
  // The master a message is about: its own address, or the one after the `@`.
  const master = ofMaster ? node(words[2], words[3]) : ofReplica ? node(words[6], words[7]) : undefined
  if (channel === '+switch-master' && words[0] === name && words.length >= 5) {
    const newMaster = node(words[3], words[4])
    return newMaster && { type: 'switch-master', master: name, newMaster, from: node(words[1], words[2])?.address }
  }
  if (!master) return undefined
  if (channel === '+promoted-slave' && ofReplica && words[0] === 'slave') {
    const newMaster = node(words[2], words[3])
    return newMaster && { type: 'switch-master', master: name, newMaster, from: master.address }
  }
  if (channel === '+sdown' && ofReplica && words[0] === 'slave') {
    return { type: 'replica-down', master: name, replica: formatAddress(words[2]!, Number(words[3])) }
  }
  if ((channel === '+odown' || channel === '-odown') && ofMaster) {
    return { type: 'odown', master: name, on: channel === '+odown', node: master.address }
  }
  if (channel.startsWith('-failover-abort-')) {
    return { type: 'failover', master: name, on: false, node: master.address }
  }
  if (PROMOTING.has(channel) && ofReplica) {
    const candidate = node(words[2], words[3])
    return candidate && { type: 'failover', master: name, on: true, node: master.address, candidate }
  }
  if (channel === '+try-failover' || channel === '+elected-leader' || channel.startsWith('+failover-')) {
    // `+failover-end` is followed by the leader's `+switch-master` within a tick of its timer: the
    // failover is not over for the clients until then.
    return { type: 'failover', master: name, on: true, node: master.address }
  }
  return undefined
}
