/** Reading the elements of a RESP reply as text. Pure. */

/** Turn a flat `[k1, v1, k2, v2, ...]` reply (SENTINEL MASTER/REPLICAS) into an object. */
export function pairs(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!Array.isArray(reply)) return out
  for (let i = 0; i + 1 < reply.length; i += 2) out[text(reply[i])] = text(reply[i + 1])
  return out
}

/** A reply element as text: strings, numbers and buffers as they read; anything else (nested arrays, ...) as ''. */
export function text(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  return Buffer.isBuffer(value) ? value.toString() : ''
}
