/**
 * Loaded by mocha (`--require`, after ts-node) inside an ioredis checkout, by ioredis-suite.ts.
 *
 * Routed run: every `new Redis(...)` of the test files whose address is the lab master
 * (127.0.0.1:6379, no sentinels, no custom Connector, no socket path) returns
 * `new TwiceRedis(...).master` instead, built with the test's own options; clients of other hosts
 * and mock servers stay plain ioredis. twiceredis is our built CommonJS (dist/cjs), and its
 * `import 'ioredis'` is answered by the checkout's own lib, so both runs use the same ioredis code
 * and `instanceof Redis` holds for our clients.
 *
 * Environment (set by ioredis-suite.ts): TWICE_IOREDIS (checkout), TWICE_DIST (our dist/cjs/index.js),
 * TWICE_ROUTE ('1' to route), TWICE_SENTINELS (JSON [[host, port]]), TWICE_NAME (master name),
 * TWICE_OPTIONS (JSON, TwiceRedis options of each routed client, under the test's own).
 */
const Module = require('node:module')
const path = require('node:path')

const checkout = process.env.TWICE_IOREDIS
const libIndex = path.join(checkout, 'lib', 'index.ts')
const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, parent, ...rest) {
  // twiceredis' `require('ioredis')` gets the checkout's lib (the code under test), not ours.
  if (request === 'ioredis' && parent && !parent.filename.startsWith(checkout)) {
    return resolveFilename.call(this, libIndex, parent, ...rest)
  }
  return resolveFilename.call(this, request, parent, ...rest)
}

if (process.env.TWICE_ROUTE === '1') {
  const redisModule = require(path.join(checkout, 'lib', 'Redis.ts'))
  const { parseURL } = require(path.join(checkout, 'lib', 'utils', 'index.ts'))
  const { TwiceRedis } = require(process.env.TWICE_DIST)
  const Original = redisModule.default
  const sentinels = JSON.parse(process.env.TWICE_SENTINELS)
  const name = process.env.TWICE_NAME
  const extra = JSON.parse(process.env.TWICE_OPTIONS || '{}')
  // ioredis options that say where and how to connect: twiceredis finds the master itself.
  const whereKeys = ['host', 'port', 'path', 'sentinels', 'name', 'role', 'natMap', 'enableReadyCheck']
  const whereKeys2 = ['Connector', 'preferredSlaves', 'failoverDetector', 'sentinelPassword', 'sentinelUsername']

  /** The options the test wrote, merged as ioredis merges its constructor's arguments (no defaults). */
  const written = (args) => {
    const options = {}
    const add = (o) => {
      for (const [k, v] of Object.entries(o)) if (!(k in options)) options[k] = v
    }
    for (const arg of args) {
      if (arg === null || arg === undefined) continue
      if (typeof arg === 'object') add(arg)
      else if (typeof arg === 'string') {
        add(parseURL(arg))
        if (arg.startsWith('rediss://')) add({ tls: true })
      } else if (typeof arg === 'number') add({ port: arg })
    }
    return options
  }

  const targetsMaster = (o) => {
    if (o.sentinels || o.Connector || o.path || o.tls) return false
    const host = o.host ?? Original.defaultOptions.host
    const port = Number(o.port ?? Original.defaultOptions.port)
    return (host === 'localhost' || host === '127.0.0.1') && port === 6379
  }

  const Routed = new Proxy(Original, {
    construct(target, args, newTarget) {
      // A subclass of the test's own, or another address: plain ioredis.
      if (newTarget !== Routed) return Reflect.construct(target, args, newTarget)
      const options = written(args)
      if (!targetsMaster(options)) return Reflect.construct(target, args, target)
      for (const key of [...whereKeys, ...whereKeys2]) delete options[key]
      if (typeof options.db === 'string') options.db = Number.parseInt(options.db, 10)
      return new TwiceRedis({ name, sentinels, ...extra, ...options }).master
    },
  })
  redisModule.default = Routed
}
