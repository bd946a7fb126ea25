/** Start-up time: `syncer --help` against `node -e 0` (the floor any node CLI pays). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, fmtMs, median, percentile, progress, overhead, timeOk, type Row } from './lib.js';

export function benchStartup(runs: number): Row[] {
  const home = mkdtempSync(join(tmpdir(), 'syncer-bench-home-'));
  const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home };
  try {
    progress(`start-up: ${runs} runs each of node -e 0 and syncer --help`);
    const floor: number[] = [];
    const help: number[] = [];
    // Warm the page cache, then interleave so drift affects both alike.
    for (let i = 0; i < 2; i++) {
      timeOk('node -e 0', process.execPath, ['-e', '0'], { env });
      timeOk('syncer --help', process.execPath, [BIN, '--help'], { env });
    }
    for (let i = 0; i < runs; i++) {
      floor.push(timeOk('node -e 0', process.execPath, ['-e', '0'], { env }).ms);
      help.push(timeOk('syncer --help', process.execPath, [BIN, '--help'], { env }).ms);
    }
    const hm = median(help);
    const fm = median(floor);
    return [
      {
        area: 'start-up',
        what: `\`syncer --help\`, median / p95 of ${runs}`,
        result: `${fmtMs(hm)} / ${fmtMs(percentile(help, 95))}`,
        reference: `\`node -e 0\`: ${fmtMs(fm)} / ${fmtMs(percentile(floor, 95))}`,
        ratio: overhead(hm, fm),
      },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
