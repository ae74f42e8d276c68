import type { Topology } from '../index.js'
import type { OffsetSource } from '../routing/staleness.js'
import type { Lag } from './lag.js'

function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => `  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n')
}

/** A replica's lag as the LAG column shows it: measured on the replica, or the sentinels' figure with its age. */
export function formatLag(bytes: number | undefined, lag?: Lag): string {
  if (bytes === undefined) return '?'
  if (lag?.from !== 'sentinel') return `${bytes} B`
  return `~${bytes} B (sentinels, ${lag.ageMs === undefined ? 'age unknown' : `${lag.ageMs} ms old`})`
}

/** A replica's staleness estimate as the STALENESS column shows it, with where the master's offset came from. */
export function formatStaleness(ms: number | undefined, source: OffsetSource | undefined): string {
  if (ms === undefined) return source === undefined ? '? (no master offset yet)' : '?'
  return `~${ms} ms (master offset: ${source ?? 'unknown'})`
}

export function printTopology(
  t: Omit<Topology, 'replicas'> & { replicas: (Topology['replicas'][number] & { lag?: Lag | undefined })[] },
  use: { read?: string; write?: string },
): void {
  console.log(`master name  ${t.name}`)
  const zone = t.master?.zone === undefined ? '' : `  (zone ${t.master.zone})`
  console.log(`master       ${t.master?.address ?? '(unknown)'}${zone}`)
  console.log('\nreplicas')
  if (t.replicas.length === 0) console.log('  (none)')
  else {
    // Zone and staleness columns only where the options make them mean something.
    const zones = t.replicas.some((r) => r.zone !== undefined) || t.zones !== undefined
    const staleness = t.replicas.some((r) => 'stalenessMs' in r)
    console.log(
      columns([
        [
          'ADDRESS',
          'FLAGS',
          'LINK',
          'LAG',
          ...(zones ? ['ZONE'] : []),
          ...(staleness ? ['STALENESS'] : []),
          'ELIGIBLE',
          'REASON',
        ],
        ...t.replicas.map((r) => [
          r.address,
          r.flags.join(','),
          r.linkStatus,
          formatLag(r.lagBytes, r.lag),
          ...(zones
            ? [r.zone === undefined ? '?' : `${r.zone}${r.zoneSource === 'announced' ? ' (announced)' : ''}`]
            : []),
          ...(staleness ? [formatStaleness(r.stalenessMs, r.masterOffsetSource)] : []),
          r.eligible ? 'yes' : 'no',
          r.reason ?? '',
        ]),
      ]),
    )
  }
  console.log('\nsentinels')
  console.log(
    columns([
      ['ADDRESS', 'REACHABLE', 'RTT', 'NOTE'],
      ...t.sentinels.map((s) => [
        s.address,
        s.reachable ? 'yes' : 'no',
        s.rttMs === undefined ? '' : `${s.rttMs} ms`,
        s.error ?? (s.knowsMaster === false ? `does not know "${t.name}"` : ''),
      ]),
    ]),
  )
  console.log(`\na read would use   ${use.read ?? '(none)'}`)
  if (t.zones) {
    const where = t.zones.read === undefined ? 'an unknown zone' : `zone ${t.zones.read}`
    console.log(`  in ${where}, client zone ${t.zones.client}${t.zones.reason ? `: ${t.zones.reason}` : ''}`)
  }
  console.log(`a write would use  ${use.write ?? '(none)'}`)
}

/** Print a reply the way redis-cli does. */
export function formatReply(reply: unknown, indent = ''): string {
  if (reply === null || reply === undefined) return '(nil)'
  if (typeof reply === 'number') return `(integer) ${reply}`
  if (Buffer.isBuffer(reply)) return reply.toString()
  if (Array.isArray(reply)) {
    if (reply.length === 0) return '(empty array)'
    const width = String(reply.length).length
    return reply
      .map(
        (item, i) =>
          `${i ? indent : ''}${String(i + 1).padStart(width)}) ${formatReply(item, `${indent}${' '.repeat(width + 2)}`)}`,
      )
      .join('\n')
  }
  return String(reply)
}

export function summary(t: Topology): string {
  // Right after a failover a sentinel may still list the promoted node among the replicas.
  const replicas = t.replicas
    .filter((r) => r.address !== t.master?.address)
    .map((r) => `${r.address}${r.eligible ? '' : ` (${r.reason})`}`)
    .join(', ')
  return `master ${t.master?.address ?? '(unknown)'}, replicas ${replicas || '(none)'}`
}
