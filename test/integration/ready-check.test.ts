// The role check (ioredis' ready check, ours) on nodes whose INFO cannot be read: what ioredis
// does there (it warns and skips its check), and what twiceredis does instead (it asks ROLE).
import assert from 'node:assert/strict'
import { describe, it, mock } from 'node:test'
import { TwiceRedis } from '../../src/index.js'
import { type Answer, fakeServer } from '../helpers/fake-sentinel.js'

/** A sentinel that names `node` as the master of `mymaster`, with no replicas. */
const sentinelOf = (node: { host: string; port: number }) =>
  fakeServer(([command, sub]) => {
    if (command?.toUpperCase() !== 'SENTINEL') return new Error('ERR unknown command')
    if (sub?.toUpperCase() === 'GET-MASTER-ADDR-BY-NAME') return [node.host, String(node.port)]
    return []
  })

/** A RESP2 master (HELLO unknown) whose INFO answers `info`; ROLE says master. */
const nodeWithInfo = (info: Answer) =>
  fakeServer(([command]) => {
    switch (command?.toUpperCase()) {
      case 'HELLO':
        return new Error("ERR unknown command 'HELLO'")
      case 'INFO':
        return info
      case 'ROLE':
        return ['master', 0, []]
      case 'GET':
        return 'from the node'
      default:
        return 'OK'
    }
  })

async function connectThrough(info: Answer): Promise<{ warnings: string[]; commands: string[]; reply: unknown }> {
  const node = await nodeWithInfo(info)
  const sentinel = await sentinelOf(node)
  const warn = mock.method(console, 'warn', () => {})
  const tr = new TwiceRedis('mymaster', [sentinel.address], undefined, {
    healthCheckIntervalMs: 0,
    maxRetriesPerRequest: 1,
  })
  try {
    const reply = await tr.master.get('k').catch((e: unknown) => e)
    // A reconnect checks the node again, and says nothing new.
    tr.master.disconnect(true)
    await tr.master.get('k').catch(() => {})
    const warnings = warn.mock.calls.map((c) => String(c.arguments[0]))
    const commands = node.received.map(([c]) => String(c).toUpperCase()).filter((c) => c === 'INFO' || c === 'ROLE')
    return { warnings, commands, reply }
  } finally {
    warn.mock.restore()
    tr.disconnect() // the fake node never closes on QUIT
    await tr.quit()
    await Promise.all([sentinel.close(), node.close()])
  }
}

describe('the role check where INFO cannot be read', () => {
  it('INFO refused (NOPERM): checked with ROLE, and a warning says what that cannot see, once per client', async () => {
    const { warnings, commands, reply } = await connectThrough(
      new Error("NOPERM User app has no permissions to run the 'info' command"),
    )
    assert.equal(reply, 'from the node')
    assert.deepEqual(commands.slice(0, 2), ['INFO', 'ROLE'])
    assert.equal(warnings.length, 1, warnings.join('\n'))
    assert.match(warnings[0]!, /127\.0\.0\.1:\d+ refuses INFO .*checked with ROLE/)
    assert.match(warnings[0]!, /loading/)
  })

  it('INFO answered without a role (a proxy, a stub): checked with ROLE, not refused', async () => {
    const { warnings, commands, reply } = await connectThrough('fake')
    assert.equal(reply, 'from the node', 'a master that says so in ROLE is used')
    assert.deepEqual(commands.slice(0, 2), ['INFO', 'ROLE'])
    assert.equal(warnings.length, 1, warnings.join('\n'))
  })

  it('a node that says in ROLE it is no master is still refused', async () => {
    const node = await fakeServer(([command]) => {
      const name = command?.toUpperCase()
      if (name === 'HELLO') return new Error("ERR unknown command 'HELLO'")
      if (name === 'INFO') return 'fake'
      if (name === 'ROLE') return ['slave', '127.0.0.1', 1, 'connected', 0]
      return name === 'GET' ? 'from the node' : 'OK'
    })
    const sentinel = await sentinelOf(node)
    const warn = mock.method(console, 'warn', () => {})
    const tr = new TwiceRedis('mymaster', [sentinel.address], undefined, {
      healthCheckIntervalMs: 0,
      maxRetriesPerRequest: 0,
    })
    try {
      const error = await tr.master.get('k').catch((e: unknown) => e)
      assert.ok(error instanceof Error, String(error))
      assert.ok(!node.received.some(([c]) => c?.toUpperCase() === 'GET'), 'no command reached a replica')
    } finally {
      warn.mock.restore()
      tr.disconnect()
      await tr.quit()
      await Promise.all([sentinel.close(), node.close()])
    }
  })
})
