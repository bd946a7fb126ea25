/**
 * Registry junk at scale: 10,000 bad entries must not print 10,000 lines. The first entry of each
 * kind of problem is shown in full; the rest are counted and summed up in one line per kind at
 * the end (every one with --verbose). Memory holds one count per kind, not the entries. Pure.
 */

/** A problem with its entry-specific parts (ids, fingerprints, numbers, quoted values) blanked. */
export function problemKind(entry: string, problem: string): string {
  return problem
    .split(entry)
    .join('<entry>')
    .replace(/SHA256:[A-Za-z0-9+/=]+/g, '<fingerprint>')
    .replace(/\b[0-9a-f]{7,64}\b/g, '…')
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\d{4}-\d{2}-\d{2}/g, 'DATE')
    .replace(/\d+/g, 'N');
}

export class SkipSummary {
  private readonly kinds = new Map<string, number>();
  private static readonly MAX_KINDS = 1000;

  constructor(private readonly verbose: boolean) {}

  /** The line to print now (without "warning: "), or undefined when it is only counted. */
  add(entry: string, problem: string): string | undefined {
    const line = `skipping ${entry}: ${problem}`;
    if (this.verbose) return line;
    const kind = this.kinds.size < SkipSummary.MAX_KINDS ? problemKind(entry, problem) : 'other problems';
    const seen = this.kinds.get(kind) ?? 0;
    this.kinds.set(kind, seen + 1);
    return seen === 0 ? line : undefined;
  }

  /** One line per kind with entries not shown: "skipped 9,999 more entries like that: ...". */
  summary(): string[] {
    const out: string[] = [];
    for (const [kind, count] of this.kinds) {
      if (count > 1) out.push(`skipped ${(count - 1).toLocaleString('en-US')} more entr${count === 2 ? 'y' : 'ies'} like that (${kind}); --verbose lists each`);
    }
    this.kinds.clear();
    return out;
  }
}
