/**
 * The lifecycle of one side's client, as one value. Pure: {@link next} holds every transition;
 * the client feeds it events and acts on the state it returns.
 */
export type Lifecycle =
  /** Not connected; the next command connects (the start, and after `disconnect()`). */
  | { readonly state: 'idle' }
  /**
   * Resolving through the sentinels and connecting. `retry`: an automatic retry, which may reuse
   * a recent sentinel answer (see `Resolver.reuseMs`); `afterSwitch`: it goes right after the
   * sentinels announced a switch; `outage`: the side was ready before it lost its node;
   * `kicked`: the sentinels announced a switch during it, so if it fails the next goes at once.
   */
  | {
      readonly state: 'connecting'
      readonly attempt: number
      readonly retry: boolean
      readonly afterSwitch: boolean
      readonly outage: boolean
      readonly kicked: boolean
    }
  /** Connected and past the role check. `kicked`: leaving a node the sentinels no longer call master. */
  | { readonly state: 'ready'; readonly kicked: boolean }
  /**
   * Waiting to retry after losing the node or failing to reach it (ioredis' reconnect timer, or
   * ours once ioredis gave up). `now`: the sentinels announced a switch; retry without backoff.
   */
  | { readonly state: 'waiting'; readonly attempt: number; readonly outage: boolean; readonly now: boolean }
  /** `disconnect()` was called: commands wait for the socket to close, then reconnect. */
  | { readonly state: 'disconnecting' }
  /** `quit()`: final. */
  | { readonly state: 'closed' }

export type LifecycleEvent =
  /** A connection attempt starts (a command on an idle client, or a retry). */
  | 'connect'
  | 'ready'
  /** The socket closed, not because of `disconnect()` or `quit()`. */
  | 'lost'
  /** ioredis ended the client by itself (discovery failed): queued commands were rejected. */
  | 'gave-up'
  /** The sentinels announced a new master and the client acts on it. */
  | 'kick'
  /** `disconnect()` on an open (or opening) connection. */
  | 'disconnect'
  /** ioredis reached `end`. */
  | 'ended'
  | 'quit'

export const initial: Lifecycle = { state: 'idle' }

export function next(s: Lifecycle, event: LifecycleEvent): Lifecycle {
  if (s.state === 'closed' || event === 'quit') return { state: 'closed' }
  switch (event) {
    case 'connect':
      if (s.state === 'idle') {
        return { state: 'connecting', attempt: 0, retry: false, afterSwitch: false, outage: false, kicked: false }
      }
      if (s.state === 'waiting') {
        return {
          state: 'connecting',
          attempt: s.attempt,
          retry: true,
          afterSwitch: s.now,
          outage: s.outage,
          kicked: false,
        }
      }
      return s
    case 'ready':
      return s.state === 'connecting' ? { state: 'ready', kicked: false } : s
    case 'lost':
      if (s.state === 'ready') return { state: 'waiting', attempt: 1, outage: true, now: s.kicked }
      if (s.state === 'connecting') return { state: 'waiting', attempt: s.attempt + 1, outage: s.outage, now: s.kicked }
      if (s.state === 'waiting') return { ...s, attempt: s.attempt + 1 }
      return s
    case 'gave-up':
      if (s.state === 'disconnecting') return { state: 'idle' }
      if ((s.state === 'connecting' || s.state === 'waiting') && s.outage) {
        return { state: 'waiting', attempt: s.attempt + 1, outage: true, now: false }
      }
      return { state: 'idle' }
    case 'kick':
      if (s.state === 'waiting') return { ...s, now: true }
      if (s.state === 'connecting' || s.state === 'ready') return { ...s, kicked: true }
      return s
    case 'disconnect':
      return { state: 'disconnecting' }
    case 'ended':
      return s.state === 'disconnecting' ? { state: 'idle' } : s
  }
}

/** How long to wait before the next attempt: none after a kick, else `backoff(attempt)`. */
export function retryDelay(s: Lifecycle, backoff: (attempt: number) => unknown): unknown {
  if (s.state !== 'waiting') return 0
  return s.now ? 0 : backoff(s.attempt)
}

/** Whether the side lost a node it had and is trying to get back: then it listens to the sentinels. */
export function inOutage(s: Lifecycle): boolean {
  return (s.state === 'waiting' || s.state === 'connecting') && s.outage
}
