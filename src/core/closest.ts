/** " (did you mean sync?)" for a mistyped word close to one of `choices`, else "". */
export function closest(word: string, choices: readonly string[]): string {
  let best: { choice: string; distance: number } | undefined;
  for (const choice of choices) {
    const d = distance(word, choice);
    if (d <= Math.max(1, Math.floor(choice.length / 3)) && (!best || d < best.distance)) best = { choice, distance: d };
  }
  return best ? ` (did you mean ${best.choice}?)` : '';
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}
