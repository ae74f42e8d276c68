/** Pure functions over what sentinels and nodes report: parse, judge, pick. No I/O. */

/** Turn a flat `[k1, v1, k2, v2, ...]` reply (SENTINEL MASTER/REPLICAS) into an object. */
export function pairs(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!Array.isArray(reply)) return out
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1])
  return out
}

/** Parse `INFO` text into a field map. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}
