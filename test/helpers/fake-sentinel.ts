import { createServer, type Socket } from 'node:net'

/** A RESP reply: string (bulk), number (integer), array, null, or an Error (error reply). */
export type Reply = string | number | null | Error | Reply[]

function encode(reply: Reply): string {
  if (reply === null) return '$-1\r\n'
  if (reply instanceof Error) return `-${reply.message}\r\n`
  if (typeof reply === 'number') return `:${reply}\r\n`
  if (Array.isArray(reply)) return `*${reply.length}\r\n${reply.map(encode).join('')}`
  return `$${Buffer.byteLength(reply)}\r\n${reply}\r\n`
}

/** Parse as many whole RESP command arrays as `buffer` holds; returns them and what is left. */
function parse(buffer: string): { commands: string[][]; rest: string } {
  const commands: string[][] = []
  let at = 0
  for (;;) {
    const header = /^\*(\d+)\r\n/.exec(buffer.slice(at))
    if (!header) break
    let pos = at + header[0].length
    const args: string[] = []
    for (let i = 0; i < Number(header[1]); i++) {
      const len = /^\$(\d+)\r\n/.exec(buffer.slice(pos))
      if (!len || buffer.length < pos + len[0].length + Number(len[1]) + 2) return { commands, rest: buffer.slice(at) }
      pos += len[0].length
      args.push(buffer.slice(pos, pos + Number(len[1])))
      pos += Number(len[1]) + 2
    }
    commands.push(args)
    at = pos
  }
  return { commands, rest: buffer.slice(at) }
}

/** A reply to send, raw RESP text, or `undefined` to never answer. */
export type Answer = Reply | { raw: string } | undefined

/**
 * A fake sentinel (or node) on `host`: `answer(args, nth)` gives the reply to each command (the
 * `nth` on its connection, from 0), raw RESP text to send as is, `undefined` to never answer, or a
 * promise of one (sent when it settles: for a connection's last command only, or replies cross).
 * Counts connections; `close()` ends it all.
 */
export async function fakeServer(
  answer: (args: string[], nth: number) => Answer | Promise<Answer>,
  host = '127.0.0.1',
) {
  const sockets = new Set<Socket>()
  const received: string[][] = []
  let connections = 0
  const server = createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    let buffer = ''
    let nth = 0
    const send = (reply: Answer) => {
      if (reply === undefined || socket.destroyed) return
      socket.write(typeof reply === 'object' && reply !== null && 'raw' in reply ? reply.raw : encode(reply as Reply))
    }
    socket.on('data', (data) => {
      const { commands, rest } = parse(buffer + data.toString('latin1'))
      buffer = rest
      for (const args of commands) {
        received.push(args)
        const reply = answer(args, nth++)
        if (reply instanceof Promise) void reply.then(send)
        else send(reply)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as { port: number }
  return {
    host,
    port,
    address: `${host}:${port}`,
    received,
    get connections() {
      return connections
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
