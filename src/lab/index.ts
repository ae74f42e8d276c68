/**
 * `twiceredis/lab`: a local Redis Sentinel deployment of real `redis-server` processes, for
 * demos and tests (ours and yours). Loopback only, free ports, cleaned up by `stop()`.
 */
export { LabError, RedisServerNotFoundError } from '../errors.js'
export { Lab } from './lab.js'
export type { LabOptions } from './options.js'
export type { LabNode } from './server.js'
export { startLab } from './start.js'
