/**
 * The start-up shortcuts print what the parser prints: `syncer --version` (alone or with --json)
 * and `syncer --help` / `-h` alone (the page `npm run build` drew into dist/cli/root-help.json,
 * used while it is newer than dist/main.js) against the same flags taken the long way (with
 * --verbose, which the shortcuts leave to the parser).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { run } from '../helpers/world.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('start-up shortcuts', () => {
  it('--version alone or with --json, in either order, as the parser says it', async () => {
    for (const [args, out] of [
      [['--version'], `${version}\n`],
      [['--version', '--json'], `${JSON.stringify({ version })}\n`],
      [['--json', '--version'], `${JSON.stringify({ version })}\n`],
      [['--version', '--verbose'], `${version}\n`],
      [['--verbose', '--json', '--version'], `${JSON.stringify({ version })}\n`],
    ] as [string[], string][]) {
      const r = await run(args);
      expect([r.code, r.stdout, r.stderr], args.join(' ')).toEqual([0, out, '']);
    }
  });

  it('--help and -h alone print the page the declarations draw', async () => {
    const drawn = await run(['--help', '--verbose']);
    expect(drawn.code).toBe(0);
    expect(drawn.stdout).toMatch(/^Usage: syncer <command>/);
    for (const flag of ['--help', '-h']) {
      const r = await run([flag]);
      expect([r.code, r.stdout, r.stderr], flag).toEqual([0, drawn.stdout, '']);
    }
  });
});
