/**
 * allowedTransports adds to https, ssh, git and file (issue 9): `syncer config set
 * allowedTransports http` enables plain http and keeps the rest, and a refused transport says so
 * in one line naming the key, in init, sync, doctor, ls and retrieve. Real etcd, real git, and a
 * real smart-http git server (`git http-backend` behind node's http server, loopback only).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';

let world: World;
let server: Server;
let httpBase: string;

/** `git http-backend` as a CGI behind node's http server: a real smart-http git server. */
function gitHttpServer(projectRoot: string): Promise<Server> {
  const srv = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_ADDR: '127.0.0.1',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  server = await gitHttpServer(join(world.root, 'remotes'));
  httpBase = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  world.cleanup();
});

const configFile = (op: Operator) => join(op.home, '.config', 'syncer', 'config.json');
const initArgs = (op: Operator, ...extra: string[]) => ['init', '--operator', op.name, '--repo', op.repo, '--import-dir', op.importDir, ...extra];
/** The refusal is one line that names the transport and the key; no signature advice. */
function expectTransportRefusal(stderr: string) {
  expect(stderr).toMatch(/uses http:\/\/, which is not allowed: syncer config set allowedTransports http/);
  expect(stderr).not.toMatch(/--accept-key|--allow-unsigned/);
}

describe('allowedTransports lists what is allowed in addition to https, ssh, git and file', () => {
  it('config set allowedTransports http keeps https: init accepts the operator’s own https remote', async () => {
    const op = await world.operator('t-https', { init: false });
    git(op.repo, 'remote', 'set-url', 'origin', 'https://git.example.org/t-https/data.git');
    expect((await op.syncer(['config', 'set', 'allowedTransports', 'http'])).code).toBe(0);
    const r = await op.syncer(initArgs(op));
    expect(r.code, r.stderr).toBe(0);
    const get = await op.syncer(['config', 'get', 'allowedTransports']);
    expect(get.stdout.trim().split(',').sort()).toEqual(['file', 'git', 'http', 'https', 'ssh']);
    // ...and ssh (scp-like) still too.
    git(op.repo, 'remote', 'set-url', 'origin', 'git@git.example.org:t-https/data.git');
    expect((await op.syncer(initArgs(op))).code).toBe(0);
  });

  it('an old config listing the defaults explicitly still works (and still refuses http)', async () => {
    const op = await world.operator('t-old', { init: false });
    mkdirSync(join(op.home, '.config', 'syncer'), { recursive: true });
    writeFileSync(configFile(op), JSON.stringify({ allowedTransports: ['https', 'ssh', 'git', 'file'] }));
    const ok = await op.syncer(initArgs(op));
    expect(ok.code, ok.stderr).toBe(0);
    git(op.repo, 'remote', 'set-url', 'origin', `${httpBase}/t-old.git`);
    const refused = await op.syncer(initArgs(op));
    expect(refused.code).toBe(2);
    expectTransportRefusal(refused.stderr);
  });

  it('init refuses a plain http remote in one line naming the key (exit 2, config not written)', async () => {
    const op = await world.operator('t-init', { init: false });
    git(op.repo, 'remote', 'set-url', 'origin', `${httpBase}/t-init.git`);
    const r = await op.syncer(initArgs(op));
    expect(r.code).toBe(2);
    expectTransportRefusal(r.stderr);
    expect(r.stderr.split('\n').filter((l) => /allowedTransports/.test(l))).toHaveLength(1);
    expect(existsSync(configFile(op))).toBe(false);
    // With http allowed, the same init passes.
    const env = { SYNCER_ALLOWED_TRANSPORTS: 'http' };
    expect((await op.syncer(initArgs(op), { env })).code).toBe(0);
  });

  it('sync and doctor name the key when the remote peers would clone from is plain http', async () => {
    const op = await world.operator('t-sync');
    op.write({ 'weather/a.csv': 'a\n' });
    const head = git(op.repo, 'rev-parse', 'HEAD');
    const r = await op.syncer(['sync', '--hub', 'weather'], { env: { SYNCER_REMOTE_URL: `${httpBase}/t-sync.git` } });
    expect(r.code).toBe(2);
    expectTransportRefusal(r.stderr);
    expect(git(op.repo, 'rev-parse', 'HEAD')).toBe(head);
    const d = await op.syncer(['doctor'], { env: { SYNCER_REMOTE_URL: `${httpBase}/t-sync.git` } });
    expect(d.code).toBe(2);
    expect(d.stdout + d.stderr).toMatch(/uses http:\/\/, which is not allowed: syncer config set allowedTransports http/);
  });

  describe('a reader and an entry served over plain http', () => {
    let pub: Operator;
    let reader: Operator;
    /** The date of pub's sync, as it reported it (the clock may cross midnight during the run). */
    let synced: string;
    beforeAll(async () => {
      pub = await world.operator('t-pub', { init: false });
      reader = await world.operator('t-reader');
      // The publisher pushes over file:// and advertises the http URL of the same repository.
      expect((await pub.syncer(['config', 'set', 'allowedTransports', 'http'])).code).toBe(0);
      const init = await pub.syncer(initArgs(pub, '--remote-url', `${httpBase}/t-pub.git`));
      expect(init.code, init.stderr).toBe(0);
      git(pub.remoteDir, 'config', 'http.receivepack', 'false');
      pub.write({ 'weather/obs.csv': 'day,temp\n1,12\n' });
      const s = await pub.syncer(['sync', '--hub', 'weather', '--json']);
      expect(s.code, s.stderr).toBe(0);
      synced = JSON.parse(s.stdout).date;
    });

    it('ls HUB skips it with a warning naming the key, not signature advice', async () => {
      const r = await reader.syncer(['ls', 'weather']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/skipping weather\/\d{4}-\d\d-\d\d\/t-pub: .*uses http:\/\/, which is not allowed: syncer config set allowedTransports http/);
      expectTransportRefusal(r.stderr);
    });

    it('ls HUB latest whose only entries are refused is exit 5, not a silent "no datasets"', async () => {
      const r = await reader.syncer(['ls', 'weather', 'latest']);
      expect(r.code).toBe(5);
      expectTransportRefusal(r.stderr);
      expect(r.stdout + r.stderr).not.toMatch(/no datasets/);
      const j = await reader.syncer(['ls', 'weather', 'latest', '--json']);
      expect(j.code).toBe(5);
      expect(j.stdout).toBe('');
    });

    it('retrieve says the transport is not allowed and names the key (exit 5), by latest and by date', async () => {
      const latest = await reader.syncer(['retrieve', '--hub', 'weather', '--date', 'latest']);
      expect(latest.code).toBe(5);
      expectTransportRefusal(latest.stderr);
      const byDate = await reader.syncer(['retrieve', '--hub', 'weather', '--date', synced, '--operator', 't-pub']);
      expect(byDate.code).toBe(5);
      expectTransportRefusal(byDate.stderr);
      const byLatestOp = await reader.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 't-pub']);
      expect(byLatestOp.code).toBe(5);
      expectTransportRefusal(byLatestOp.stderr);
    });

    it('after config set allowedTransports http the reader lists it and retrieves it over http', async () => {
      expect((await reader.syncer(['config', 'set', 'allowedTransports', 'http'])).code).toBe(0);
      const ls = await reader.syncer(['ls', 'weather', 'latest', '--json']);
      expect(ls.code, ls.stderr).toBe(0);
      expect(JSON.parse(ls.stdout)).toMatchObject([{ operator: 't-pub', remote: `${httpBase}/t-pub.git` }]);
      const r = await reader.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--json'], { timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(readFileSync(join(out.dataPath, 'obs.csv'), 'utf8')).toBe('day,temp\n1,12\n');
      expect(out.commit).toBe(git(pub.repo, 'rev-parse', 'HEAD'));
    });
  });
});
