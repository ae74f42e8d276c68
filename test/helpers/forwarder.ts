import { createConnection, createServer, type Socket } from 'node:net'

/** A loopback TCP forwarder to `target` (listening on `host`): an address only a natMap knows. Counts connections. */
export async function forwarder(target: { host: string; port: number }, host = '127.0.0.1') {
  const sockets = new Set<Socket>()
  let connections = 0
  let blackhole = false
  const server = createServer((client) => {
    connections++
    if (blackhole) {
      // Accept and never answer: a node that hangs in the handshake.
      sockets.add(client)
      client.on('error', () => {})
      client.on('close', () => sockets.delete(client))
      return
    }
    const upstream = createConnection({ host: target.host, port: target.port })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => sockets.delete(s))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as { port: number }
  return {
    host,
    port,
    get connections() {
      return connections
    },
    /** From now on accept connections and never answer; drop the ones open now. */
    blackhole() {
      blackhole = true
      for (const s of sockets) s.destroy()
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
