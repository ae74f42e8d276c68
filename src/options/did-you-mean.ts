/** Suggesting the option a misspelled key meant. Pure. */

/** The known name nearest to a misspelled one, if one is near enough to be what was meant. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined
  for (const key of known) {
    const distance = editDistance(name.toLowerCase(), key.toLowerCase())
    if (!best || distance < best.distance) best = { key, distance }
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 4)) ? best.key : undefined
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]!
}
