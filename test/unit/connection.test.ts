import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Command, Redis } from 'ioredis'
import { park, unpark } from '../../src/client/async-context.js'
import { Connection } from '../../src/client/connection.js'
import { kindOf } from '../../src/command-kinds.js'

describe('the connection record', () => {
  it('knows our commands until they are answered, and none of the application’s', async () => {
    const client = new Redis({ lazyConnect: true })
    const connection = new Connection(client)
    const ours = new Command('role')
    const theirs = new Command('get', ['k'])
    assert.ok(!connection.isOwn(ours))
    connection.own(ours)
    connection.own(ours) // marked twice: counted once
    assert.ok(connection.isOwn(ours) && !connection.isOwn(theirs))
    ours.resolve(['master', 0, []])
    await ours.promise
    assert.ok(!connection.isOwn(theirs))
    const another = new Command('role')
    connection.own(another)
    assert.ok(connection.isOwn(another))
    another.reject(new Error('Connection is closed.'))
    await another.promise.catch(() => {})
    client.disconnect()
  })

  it('follows blocking commands (WAIT too) and SELECT from the command table; the db outlives its connection', () => {
    const client = new Redis({ lazyConnect: true, db: 2 })
    const connection = new Connection(client)
    for (const name of ['blpop', 'wait']) connection.written(new Command(name, ['k', 0]), kindOf(name))
    assert.equal(connection.blocked, 2)
    const select = new Command('select', [5])
    connection.written(select, kindOf('select'))
    select.resolve('OK')
    assert.equal(connection.db, 5)
    connection.closed()
    assert.equal(connection.blocked, 0)
    // The client's options.db follows the answered SELECT: the next connection is in db 5 again.
    assert.equal(connection.db, 5)
    assert.equal(client.options.db, 5)
    client.disconnect()
  })
})

describe('async context of a waiting command', () => {
  it('resumes a parked command once, and a settled one never', async () => {
    const waiting = new Command('get', ['k'])
    park(waiting)
    assert.equal(typeof unpark(waiting), 'function')
    assert.equal(unpark(waiting), undefined)
    const dropped = new Command('get', ['k'])
    park(dropped)
    dropped.reject(new Error('Connection is closed.'))
    await dropped.promise.catch(() => {})
    assert.equal(unpark(dropped), undefined)
    assert.equal(unpark(new Command('get', ['k'])), undefined)
  })
})
