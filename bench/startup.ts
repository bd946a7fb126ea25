/**
 * Start-up time: `syncer --help` and `syncer --version` against `node -e 0` (the floor any node CLI
 * pays). The three are interleaved so that drift in the machine's load affects them alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, fmtMs, median, percentile, progress, overhead, timeOk, type Row } from './lib.js';

const CASES = [['--help'], ['--version']] as const;

export function benchStartup(runs: number): Row[] {
  const home = mkdtempSync(join(tmpdir(), 'syncer-bench-home-'));
  const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home };
  const floor = () => timeOk('node -e 0', process.execPath, ['-e', '0'], { env }).ms;
  const syncer = (args: readonly string[]) => timeOk(`syncer ${args.join(' ')}`, process.execPath, [BIN, ...args], { env }).ms;
  try {
    progress(`start-up: ${runs} runs each of node -e 0, ${CASES.map((c) => `syncer ${c.join(' ')}`).join(', ')}`);
    // Warm the page cache first.
    for (let i = 0; i < 2; i++) [floor(), ...CASES.map(syncer)];
    const floors: number[] = [];
    const times: number[][] = CASES.map(() => []);
    for (let i = 0; i < runs; i++) {
      floors.push(floor());
      for (const [c, args] of CASES.entries()) times[c]!.push(syncer(args));
    }
    const fm = median(floors);
    return CASES.map((args, c) => ({
      area: 'start-up',
      what: `\`syncer ${args.join(' ')}\`, median / p95 of ${runs}`,
      result: `${fmtMs(median(times[c]!))} / ${fmtMs(percentile(times[c]!, 95))}`,
      reference: `\`node -e 0\`: ${fmtMs(fm)} / ${fmtMs(percentile(floors, 95))}`,
      ratio: overhead(median(times[c]!), fm),
    }));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
