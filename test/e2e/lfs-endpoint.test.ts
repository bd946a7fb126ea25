/**
 * A hostile operator (its own valid key) commits a `.lfsconfig` pointing git-lfs at an endpoint
 * of its choosing (an internal http service): git's protocol rules do not cover git-lfs's HTTP
 * client, so retrieve checks each URL there against the transports the reader allows (exit 5).
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;
let b: Operator;
let server: Server;
let hits = 0;
const LFS = { SYNCER_LFS_THRESHOLD_MIB: '1' };

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  server = createServer((_req, res) => {
    hits++;
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
}, 60_000);
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  world.cleanup();
});

it('a committed .lfsconfig with an http endpoint is refused before git-lfs contacts it', async () => {
  const port = (server.address() as { port: number }).port;
  a.write({ '.lfsconfig': `[lfs]\n\turl = http://127.0.0.1:${port}/internal/lfs\n`, 'sat/big.bin': randomBytes(1024 * 1024 + 10), 'sat/t.csv': 't\n' });
  const { git } = await import('../helpers/world.js');
  git(a.repo, 'add', '.lfsconfig');
  git(a.repo, '-c', 'user.name=a', '-c', 'user.email=a@x', 'commit', '-q', '-m', 'lfs endpoint');
  // The operator's own pushes go to its real remote (its local config beats .lfsconfig).
  git(a.repo, 'config', 'lfs.url', a.remoteUrl);
  const s = await a.syncer(['sync', '--hub', 'sat'], { env: LFS });
  expect(s.code, s.stderr).toBe(0);
  const into = join(world.root, 'r-lfsconfig');
  const r = await b.syncer(['retrieve', '--hub', 'sat', '--date', 'latest', '--operator', 'lab-a', '--into', into]);
  expect(r.code, r.stderr).toBe(5);
  expect(r.stderr).toMatch(/the \.lfsconfig of the commit sets lfs\.url to http:\/\/127\.0\.0\.1:\d+\/internal\/lfs: .*http/);
  expect(hits, 'the endpoint was never contacted').toBe(0);
  expect(existsSync(into)).toBe(false);
}, 60_000);
