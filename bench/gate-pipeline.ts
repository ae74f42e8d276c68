// The read gate's cost per read on a large pipeline: one `tr.slave` pipeline of 20,000 GETs right
// after a write (every read goes through the gate: caught, checked behind one probe, delivered),
// against the same pipeline once the replica is known to be at the floor (no check: the gate lets
// each read straight through). Wall time and this process' CPU time per pipeline (medians), and
// how many reads went to the master. Not wired into run.ts yet: `npm run build && npx tsx
// bench/gate-pipeline.ts [rounds]`. e6ae411 (quadratic gate) took 4.8 s wall, 2.9 s CPU (143 us
// per read) and moved 20,000 of 20,000 reads to the master on this machine.
import { TwiceRedis } from 'twiceredis'
import { startLab } from 'twiceredis/lab'
import { median, table } from './peers.js'

const READS = 20_000

export async function gatePipelineBench(rounds = 5): Promise<string> {
  const lab = await startLab()
  const tr = new TwiceRedis({
    name: lab.masterName,
    sentinels: lab.sentinelAddresses,
    consistency: 'session',
    healthCheckIntervalMs: 0,
  })
  try {
    let moved = 0
    tr.on('read-from-master', () => moved++)
    await tr.slave.get('warm-up')
    const rows: (string | number)[][] = []
    for (const checked of [true, false]) {
      const wall: number[] = []
      const cpu: number[] = []
      const movedPerRound: number[] = []
      for (let round = 0; round < rounds; round++) {
        moved = 0
        await tr.master.set('gate:k', String(round))
        if (!checked) await tr.slave.get('gate:k') // the floor is known: nothing left to check
        const pipeline = tr.slave.pipeline()
        for (let i = 0; i < READS; i++) pipeline.get('gate:k')
        const cpu0 = process.cpuUsage()
        const start = performance.now()
        const results = await pipeline.exec()
        wall.push(performance.now() - start)
        const used = process.cpuUsage(cpu0)
        cpu.push((used.user + used.system) / 1000)
        movedPerRound.push(moved)
        if (results?.length !== READS) throw new Error(`${results?.length} replies of ${READS}`)
      }
      rows.push([
        checked ? 'right after a write (every read checked)' : 'replica known at the floor (no check)',
        `${median(wall).toFixed(0)} ms`,
        `${median(cpu).toFixed(0)} ms`,
        `${((median(cpu) * 1000) / READS).toFixed(2)} us`,
        `${median(movedPerRound)} of ${READS}`,
      ])
    }
    return table(['20,000 GETs in one tr.slave pipeline', 'wall', 'CPU', 'CPU per read', 'moved to the master'], rows)
  } finally {
    await tr.quit()
    await lab.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await gatePipelineBench(Number(process.argv[2] ?? 5)))
}
