import type { Command, Redis } from 'ioredis'
import type { Target } from '../events.js'

export type Stream = Parameters<Redis['sendCommand']>[1]

/** The side clients as the session sees them. */
export interface SessionClient extends Redis {
  readonly node: Target | undefined
  /** Send past twiceredis' own hooks (ioredis' `sendCommand`). */
  sendDirect(command: Command, stream?: Stream): unknown
  /** Its connection record (client/connection.ts): what the session sends on it is marked ours there too. */
  readonly connection?: { own(command: Command): void } | undefined
  /** Metrics, told which client served a read that moved. */
  metrics?: { written(command: Command, client: never): void } | undefined
}

/** Sends a command of twiceredis' own on a client (the session marks it as such). */
export type SendOwn = (client: SessionClient, command: Command, stream?: Stream) => unknown
