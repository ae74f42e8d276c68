/**
 * What a sentinel may send on the watch's subscription once it subscribes: a pattern subscription's
 * confirmation, a message on a pattern, or an error (`subscribed`: its `PSUBSCRIBE` went out). Pure.
 *
 * ioredis' subscriber mode takes replies as well-formed: a `PSUBSCRIBE` answered with an integer, a
 * `pmessage` with a missing element, or a `null` where a name belongs throws inside its reply
 * handler, and ioredis rethrows that on the next tick, an uncaught exception. A sentinel that lies
 * (or is not a sentinel) must not crash the application, so every reply of the subscription is
 * checked against these shapes before ioredis sees it.
 */
export function isSubscriberReply(reply: unknown, subscribed: boolean): boolean {
  // Before it subscribes, the connection gets only the handshake's answers (AUTH: a status or an error).
  if (!subscribed) return reply instanceof Error || isName(reply)
  if (reply instanceof Error) return true
  if (!Array.isArray(reply) || !isName(reply[0])) return false
  switch (String(reply[0])) {
    case 'psubscribe':
    case 'punsubscribe':
      return reply.length === 3 && isName(reply[1]) && typeof reply[2] === 'number'
    case 'pmessage':
      return reply.length === 4 && isName(reply[1]) && isName(reply[2]) && isName(reply[3])
    default:
      return false
  }
}

function isName(value: unknown): boolean {
  return Buffer.isBuffer(value) || typeof value === 'string'
}
