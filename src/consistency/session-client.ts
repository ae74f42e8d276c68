import type { Command, Redis } from 'ioredis'
import type { Connection } from '../client/connection.js'
import type { Target } from '../events.js'
import { closingManually } from '../ioredis-internals.js'

export type Stream = Parameters<Redis['sendCommand']>[1]

/** The side clients as the session sees them. */
export interface SessionClient extends Redis {
  readonly node: Target | undefined
  /** Its connection record (MULTI, blocking, db, epoch, which commands are ours). */
  readonly connection: Connection
  /** Send past twiceredis' own hooks (ioredis' `sendCommand`). */
  sendDirect(command: Command, stream?: Stream): unknown
  /** Metrics, told which client served a read that moved. */
  metrics?: { written(command: Command, client: never): void } | undefined
}

/** Sends a command of twiceredis' own on a client (the session marks it as such). */
export type SendOwn = (client: SessionClient, command: Command, stream?: Stream) => unknown

/** Send a command of twiceredis' own on `client`, past the application's stages. */
export function sendOwn(client: SessionClient, command: Command, stream?: Stream): unknown {
  // Ours on the connection record: a command that waited (ioredis' offline queue, a reconnect,
  // a disconnect()) comes back through sendCommand, where only the record tells ours apart; else
  // it is guarded as the application's (a ROLE refused as the rest of a lost MULTI ends it).
  client.connection.own(command)
  // disconnect() called, the socket still closing: the client's own path holds the command and
  // sends it over the next connection (written on the closing one, it would fail).
  if (client.status !== 'end' && closingManually(client)) return client.sendCommand(command, stream)
  return client.sendDirect(command, stream)
}
