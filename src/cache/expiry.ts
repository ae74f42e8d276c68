import { Command } from 'ioredis'
import { type SessionClient, sendOwn } from '../consistency/session-client.js'
import { onReply } from './reply.js'

/**
 * When the first of `keys` expires (`Infinity`: none has a TTL), asked on the tracked connection
 * with the read (a `PTTL` of ours per key). Redis does not invalidate a key as its TTL passes on
 * a replica (the master's DEL does, later: up to its active expiry's sampling, or never while the
 * link is down) yet a read of the replica then finds nothing: an entry must not outlive its key.
 * Measured from before the read was sent, so never later than the key's own expiry; no answer
 * (the connection closed): `-Infinity`, not cached. `done` is called as the last one is answered.
 */
export function expiryOf(client: SessionClient, keys: string[], sentAt: number, done: (at: number) => void): void {
  let left = keys.length
  let at = Number.POSITIVE_INFINITY
  for (const key of keys) {
    const pttl = new Command('pttl', [key], { replyEncoding: 'utf8' })
    onReply(pttl, (ttl, error) => {
      if (error) at = Number.NEGATIVE_INFINITY
      else if (typeof ttl === 'number' && ttl >= 0) at = Math.min(at, sentAt + ttl)
      if (--left === 0) done(at)
    })
    pttl.promise.catch(() => {}) // ours: its failure is the -Infinity above
    sendOwn(client, pttl)
  }
}
