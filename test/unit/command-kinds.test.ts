import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CACHED_READS, kindOf } from '../../src/command-kinds.js'

describe('command kinds: the one table of command facts', () => {
  it("only plain keyspace reads may move (ioredis' command table), whatever the case of the name", () => {
    for (const name of ['get', 'GET', 'Mget', 'zrange', 'hgetall', 'hrandfield', 'eval_ro', 'exists', 'lcs']) {
      assert.ok(kindOf(name).plainRead, name)
    }
    for (const name of [
      'set',
      'zpopmin',
      'select',
      'SELECT',
      'subscribe',
      'multi',
      'exec',
      'blpop',
      'xread',
      'xreadgroup',
      'scan',
      'client',
      'role',
      'eval',
      'publish',
      'quit',
      'no-such-module-command',
    ]) {
      assert.ok(!kindOf(name).plainRead, name)
    }
  })

  it('writes are every command not known to read: reads, connection commands and MULTI need no ROLE', () => {
    for (const name of ['set', 'EXEC', 'eval', 'incr', 'blpop', 'module.write']) assert.ok(kindOf(name).mayWrite, name)
    for (const name of ['get', 'PING', 'select', 'multi', 'client', 'zrange']) assert.ok(!kindOf(name).mayWrite, name)
  })

  it('what reads data on a replica (never sent below its floor): reads, EXEC, scripts, unknown names; not state, pub/sub or writes', () => {
    for (const name of ['get', 'EXEC', 'eval', 'fcall', 'sort', 'xread', 'scan', 'module.read']) {
      assert.ok(kindOf(name).readsData, name)
    }
    for (const name of ['select', 'MULTI', 'discard', 'ping', 'client', 'subscribe', 'ssubscribe', 'set', 'blpop']) {
      assert.ok(!kindOf(name).readsData, name)
    }
  })
  it("blocking is what holds a connection in either table: ioredis' BLOCKING_COMMANDS and WAIT/WAITAOF", () => {
    for (const name of [
      'blpop',
      'BRPOP',
      'blmove',
      'bzpopmin',
      'bzmpop',
      'blmpop',
      'xread',
      'xreadgroup',
      'wait',
      'waitaof',
    ]) {
      assert.ok(kindOf(name).blocking, name)
    }
    for (const name of ['get', 'lpop', 'xrange', 'subscribe', 'no-such-command'])
      assert.ok(!kindOf(name).blocking, name)
  })

  it("connection state: transactions, subscriber mode (ioredis' lists), db, handshake, QUIT, cursors", () => {
    for (const name of ['multi', 'EXEC', 'discard', 'reset']) assert.ok(kindOf(name).transaction, name)
    assert.ok(!kindOf('watch').transaction)
    for (const name of ['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'sunsubscribe']) {
      assert.ok(kindOf(name).subscriber, name)
    }
    assert.ok(!kindOf('publish').subscriber, 'PUBLISH is a write, not subscriber mode')
    assert.ok(kindOf('publish').mayWrite)
    assert.ok(kindOf('select').selectsDb && kindOf('reset').selectsDb && !kindOf('get').selectsDb)
    // (HELLO too with ioredis 6, which sends it; ioredis 5 never does and does not list it.)
    for (const name of ['auth', 'select', 'client', 'readonly', 'info']) assert.ok(kindOf(name).handshake, name)
    assert.ok(kindOf('quit').disconnects && !kindOf('reset').disconnects)
    for (const name of ['scan', 'HSCAN']) assert.ok(kindOf(name).cursor && kindOf(name).readsData, name)
  })

  it('the client cache answers only plain reads (CACHED_READS)', () => {
    for (const name of Object.keys(CACHED_READS)) assert.ok(kindOf(name).plainRead, name)
  })

  it('worked out once per name, and names Redis does not know may read and write', () => {
    assert.equal(kindOf('GET'), kindOf('GET'))
    assert.equal(kindOf('Get').name, 'get')
    const unknown = kindOf('module.thing')
    assert.ok(!unknown.known && unknown.readsData && unknown.mayWrite && !unknown.plainRead)
  })

  it("what changes a connection's state (the connection record follows only these): transactions, WATCH, blocking, db", () => {
    for (const name of ['MULTI', 'exec', 'discard', 'reset', 'watch', 'UNWATCH', 'select', 'blpop', 'xread', 'wait']) {
      assert.ok(kindOf(name).state, name)
    }
    for (const name of ['set', 'GET', 'incr', 'ping', 'client', 'subscribe', 'quit'])
      assert.ok(!kindOf(name).state, name)
  })
})
