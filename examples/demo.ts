// The demo: a real Sentinel lab, the seed README's examples through TwiceRedis, a disconnect
// that moves reads to another replica, and a live failover with writes going on.
// Run it with `npm run demo`.
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'

const say = (text: string) => console.log(text)
const started = Date.now()

say('Starting a local Sentinel lab: 1 master, 2 replicas, 3 sentinels (real redis-server processes) ...')
const lab = await startLab({ password: 'tötes_passowrd' })
const role = (address: string | undefined) =>
  address === lab.master.address ? `master ${address}` : `replica ${address ?? '?'}`

try {
  say(`  master name "${lab.masterName}", sentinels ${lab.sentinels.map((s) => s.address).join(', ')}\n`)

  const tr = new TwiceRedis(lab.masterName, lab.sentinelAddresses, 'tötes_passowrd')
  tr.on('fallback-to-master', ({ master }) => say(`  (no healthy replica: reads fall back to master ${master})`))

  say('The seed README, in TypeScript:')
  await tr.master.set('je mange', 'huehue')
  say(`  tr.master.set('je mange', 'huehue')      -> served by ${role(tr.master.node?.address)}`)
  await tr.master.wait(2, 1000) // let both replicas catch up before reading
  const x = await tr.slave.get('je mange')
  say(`  tr.slave.get('je mange') = '${x}'        -> served by ${role(tr.slave.node?.address)}`)
  const res = await tr.master.pipeline().set('turle', 'power').set('tr3buchet', 'tötes').exec()
  say(`  tr.master.pipeline().set(...).set(...).exec() = ${JSON.stringify(res)}`)
  await tr.write.del('je mange')
  say(`  tr.write.del('je mange')                  -> the same client as tr.master: ${tr.write === tr.master}`)

  say('\nDisconnect the read side; the next read reconnects on its own, maybe to another replica:')
  const seen = new Set<string>()
  for (let i = 0; i < 8; i++) {
    await tr.slave.get('turle')
    const address = tr.slave.node?.address ?? '?'
    say(`  read ${i + 1}: ${role(address)}${seen.has(address) ? '' : '  (new)'}`)
    seen.add(address)
    tr.slave.disconnect()
  }

  say('\nA live failover: the master is killed while a writer goes on every 20 ms ...')
  let ok = 0
  let failed = 0
  let firstAfterKill = 0
  let killedAt = 0
  let writing = true
  const oldMaster = lab.master.address
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      try {
        await tr.master.set('counter', String(i))
        ok++
        if (killedAt && !firstAfterKill && tr.master.node?.address !== oldMaster) firstAfterKill = Date.now()
      } catch {
        failed++
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  await new Promise((r) => setTimeout(r, 300))
  killedAt = Date.now()
  await lab.kill(lab.master)
  say(`  killed master ${oldMaster} (SIGKILL)`)
  // A live progress line on a terminal; one line every second when piped (CI logs).
  const tty = process.stdout.isTTY
  const progress = setInterval(
    () => {
      const elapsed = `${((Date.now() - killedAt) / 1000).toFixed(1)} s`
      if (tty) process.stdout.write(`\r  sentinels electing a new master ... ${elapsed}`)
      else say(`  sentinels electing a new master ... ${elapsed}`)
    },
    tty ? 100 : 1000,
  )
  const elected = await lab.waitForNewMaster()
  const switchedAt = Date.now()
  clearInterval(progress)
  say(
    `${tty ? '\r' : ''}  sentinels switched to ${elected.address} after ${((switchedAt - killedAt) / 1000).toFixed(1)} s          `,
  )
  while (!firstAfterKill && Date.now() - switchedAt < 10_000) await new Promise((r) => setTimeout(r, 20))
  writing = false
  await writer
  say(`  first write on the new master ${((firstAfterKill - killedAt) / 1000).toFixed(1)} s after the kill`)
  say(`  writes: ${ok} ok, ${failed} failed; tr.master is now on ${tr.master.node?.address}`)

  await tr.quit()
  say(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. Tearing the lab down.`)
} finally {
  await lab.stop()
}
