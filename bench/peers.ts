// The clients a user would pick, each behind the same small interface, so every scenario
// measures them side by side on the same lab.
import { Redis } from 'ioredis'
import { createSentinel } from 'redis'
import { TwiceRedis, type TwiceRedisOptions } from 'twiceredis'
import type { Lab } from 'twiceredis/lab'

export interface Peer {
  name: string
  write(key: string, value: string): Promise<unknown>
  read(key: string): Promise<unknown>
  close(): Promise<void>
}

export type PeerFactory = (lab: Lab) => Promise<Peer>

export const twiceredis =
  (name = 'twiceredis', options: TwiceRedisOptions = {}): PeerFactory =>
  async (lab) => {
    const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, undefined, options)
    return {
      name,
      write: (k, v) => tr.master.set(k, v),
      read: (k) => tr.slave.get(k),
      close: () => tr.quit(),
    }
  }

export const ioredisSentinel =
  (name = 'ioredis (sentinel)'): PeerFactory =>
  async (lab) => {
    const { master, replica, close } = ioredisPair(lab)
    return { name, write: (k, v) => master.set(k, v), read: (k) => replica.get(k), close: async () => close() }
  }

export const nodeRedisSentinel =
  (name = 'node-redis (sentinel)'): PeerFactory =>
  async (lab) => {
    const sentinel = nodeRedisClient(lab)
    await sentinel.connect()
    return {
      name,
      write: (k, v) => sentinel.set(k, v),
      read: (k) => sentinel.get(k),
      close: async () => {
        sentinel.destroy()
      },
    }
  }

/** The lab's sentinels as `{ host, port }`, the form ioredis and node-redis take. */
export const sentinelNodes = (lab: Lab) => lab.sentinels.map(({ host, port }) => ({ host, port }))

/** ioredis' own Sentinel support as its users write it: one client per role. */
export function ioredisPair(lab: Lab) {
  const options = { sentinels: sentinelNodes(lab), name: lab.masterName }
  const master = new Redis({ ...options, role: 'master' })
  const replica = new Redis({ ...options, role: 'slave' })
  for (const c of [master, replica]) c.on('error', () => {})
  return {
    master,
    replica,
    close() {
      master.disconnect()
      replica.disconnect()
    },
  }
}

/** node-redis' `createSentinel`, with a replica pool so that reads go to a replica. Not connected yet. */
export function nodeRedisClient(lab: Lab) {
  const sentinel = createSentinel({ name: lab.masterName, sentinelRootNodes: sentinelNodes(lab), replicaPoolSize: 1 })
  sentinel.on('error', () => {})
  return sentinel
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function table(header: string[], rows: (string | number)[][]): string {
  const lines = [header, header.map(() => '---'), ...rows.map((r) => r.map(String))]
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function shuffled<T>(items: readonly T[]): T[] {
  return [...items].sort(() => Math.random() - 0.5)
}
