/**
 * Scripts and launchers: without a TTY (or with --no-input, SYNCER_NO_INPUT, CI) a missing value
 * is exit 2 naming the flag, and nothing waits for input. SIGINT/SIGTERM exit 130 and leave
 * nothing half-written.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  a = await world.operator('lab-a');
  a.write({ 'weather/t.csv': 't\n1\n' });
});
afterAll(() => world.cleanup());

describe('no TTY: missing values are errors naming the flag', () => {
  const cases: [string, string[], RegExp][] = [
    ['sync without --hub', ['sync'], /missing --hub/],
    ['retrieve without --hub and --date', ['retrieve'], /missing --hub and --date/],
    ['retrieve without --date', ['retrieve', '--hub', 'weather'], /missing --date/],
    ['init without --operator', ['init', '--config', '/nonexistent/x.json', '--repo', '/tmp'], /missing --operator/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: exit 2, even with stdin left open`, async () => {
      const r = await a.syncer(args, { stdinOpen: true, timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    });
  }
  it('--no-input, SYNCER_NO_INPUT=1 and CI behave the same', async () => {
    for (const opts of [{ args: ['--no-input'] }, { env: { SYNCER_NO_INPUT: '1' } }, { env: { CI: 'true' } }]) {
      const r = await a.syncer(['sync', ...(opts.args ?? [])], { env: opts.env, stdinOpen: true });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/missing --hub/);
    }
    expect(git(a.repo, 'rev-list', '--count', 'HEAD')).toBe('1');
  });
  it('no stack traces without --verbose', async () => {
    const r = await a.syncer(['sync', '--hub', 'weather'], { env: { SYNCER_ETCD_HOSTS: 'http://127.0.0.1:1' } });
    expect(r.code).toBe(3);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/^error: /);
  });
  it('a flag given without its value is exit 2 naming it, and nothing is written in the working directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'syncer-empty-flag-'));
    try {
      for (const [args, flag] of [
        [['mirror', '--to'], '--to'],
        [['retrieve', '--hub', 'weather', '--date', 'latest', '--into'], '--into'],
        [['init', '--import-dir'], '--import-dir'],
        [['reindex', '--from-mirror', '--dry-run'], '--from-mirror'],
        [['watch', '--hub'], '--hub'],
        [['ls', '--config'], '--config'],
      ] as const) {
        const r = await a.syncer([...args], { cwd });
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr.split('\n')[0]).toBe(`error: ${flag} needs a value`);
      }
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
  it('--version prints the version; with --json, one JSON document', async () => {
    const plain = await a.syncer(['--version']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const json = await a.syncer(['--version', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ version: plain.stdout.trim() });
  });
});

describe('interrupted', () => {
  let server: Server;
  let port: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // A git server that accepts connections and never answers.
    server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  /** Send `signal` once git has connected to the stalled server: the command is then mid-fetch or mid-push. */
  const interrupt = (signal: NodeJS.Signals) => (child: import('node:child_process').ChildProcess) => {
    const seen = sockets.length;
    const timer = setInterval(() => {
      if (sockets.length > seen || child.exitCode !== null) {
        clearInterval(timer);
        setTimeout(() => child.kill(signal), 200);
      }
    }, 50);
  };

  it('SIGINT during retrieve: exit 130, no target and no temporary clone left', async () => {
    const date = '2026-11-02';
    world.etcdPut(
      `datasets/weather/${date}/lab-z`,
      JSON.stringify({
        schema: 1,
        hub: 'weather',
        date,
        operator: 'lab-z',
        remote: `git://127.0.0.1:${port}/data.git`,
        branch: 'main',
        commit: 'c'.repeat(40),
        tag: `syncer/weather/${date}`,
        path: 'weather',
        files: 1,
        bytes: 1,
        message: 'm',
        syncedAt: `${date}T10:00:00.000Z`,
        runId: 'r',
      }),
    );
    // Unsigned (planted by hand): --allow-unsigned lets it reach the (stalled) fetch.
    const r = await a.syncer(['retrieve', '--hub', 'weather', '--date', date, '--operator', 'lab-z', '--allow-unsigned'], { onSpawn: interrupt('SIGINT') });
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    expect(existsSync(join(a.importDir, 'weather', date, 'lab-z'))).toBe(false);
    const parent = join(a.importDir, 'weather', date);
    expect(existsSync(parent) ? readdirSync(parent) : []).toEqual([]);
  });

  it('SIGTERM during the push of a sync: exit 130, commit kept, nothing advertised; a rerun completes', async () => {
    git(a.repo, 'remote', 'set-url', 'origin', `git://127.0.0.1:${port}/data.git`);
    await a.syncer(['config', 'set', 'remoteUrl', a.remoteUrl]);
    const r = await a.syncer(['sync', '--hub', 'weather'], { onSpawn: interrupt('SIGTERM') });
    expect(r.code).toBe(130);
    expect(git(a.repo, 'log', '-1', '--format=%s')).toMatch(/^sync weather /);
    expect(Object.keys(world.etcdGet('datasets/weather/')).filter((k) => k.endsWith('/lab-a'))).toEqual([]);
    git(a.repo, 'remote', 'set-url', 'origin', a.remoteUrl);
    const head = git(a.repo, 'rev-parse', 'HEAD');
    const again = await a.syncer(['sync', '--hub', 'weather', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ committed: false, commit: head });
  });
});
