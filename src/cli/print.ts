import type { Topology } from '../index.js'

function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => `  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n')
}

export function printTopology(t: Topology, use: { read?: string; write?: string }): void {
  console.log(`master name  ${t.name}`)
  console.log(`master       ${t.master?.address ?? '(unknown)'}`)
  console.log('\nreplicas')
  if (t.replicas.length === 0) console.log('  (none)')
  else
    console.log(
      columns([
        ['ADDRESS', 'FLAGS', 'LINK', 'LAG', 'ELIGIBLE', 'REASON'],
        ...t.replicas.map((r) => [
          r.address,
          r.flags.join(','),
          r.linkStatus,
          r.lagBytes === undefined ? '?' : `${r.lagBytes} B`,
          r.eligible ? 'yes' : 'no',
          r.reason ?? '',
        ]),
      ]),
    )
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
  const replicas = t.replicas.map((r) => `${r.address}${r.eligible ? '' : ` (${r.reason})`}`).join(', ')
  return `master ${t.master?.address ?? '(unknown)'}, replicas ${replicas || '(none)'}`
}
