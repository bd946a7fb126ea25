/**
 * A real PostgreSQL for tests: Debian's `postgresql` binaries (/usr/lib/postgresql/<ver>/bin),
 * a cluster initialised in a temporary directory (as the `postgres` user when we are root: initdb
 * refuses root), listening on 127.0.0.1 at a free port with its socket in that directory. Local
 * socket connections are trusted; TCP connections need the password (scram), so the tests exercise
 * `passwordEnv` for real. Statements are logged, so a test can see what syncer sent.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Postgres {
  port: number;
  user: string;
  password: string;
  dir: string;
  /** postgres://user@127.0.0.1:port/db (no password). */
  url(db?: string): string;
  /** Run SQL through psql; returns the unaligned, tuples-only output. */
  psql(sql: string, db?: string): string;
  createDatabase(name: string): void;
  /** The server's log so far (statements included). */
  log(): string;
  stop(): void;
}

export function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) throw new Error('PostgreSQL is not installed: apt-get install -y postgresql');
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('no initdb under /usr/lib/postgresql/*/bin: apt-get install -y postgresql');
  return join(base, versions[0]!, 'bin');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function uidOf(user: string): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()),
  };
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'syncer-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const user = 'syncer';
  const password = `test-secret-${Math.random().toString(36).slice(2, 10)}`;
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`);
  writeFileSync(logFile, '');
  const root = process.getuid?.() === 0;
  const as = (cmd: string, args: string[]) =>
    root ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' }) : execFileSync(cmd, args, { stdio: 'pipe' });
  if (root) {
    const { uid, gid } = uidOf('postgres');
    for (const p of [dir, pwfile, logFile]) chownSync(p, uid, gid);
  }
  chmodSync(dir, 0o755);
  as(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const port = await freePort();
  const opts =
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ` +
    `log_statement=all -c max_connections=40`;
  as(join(bin, 'pg_ctl'), ['-D', data, '-o', opts, '-l', logFile, '-w', '-t', '60', 'start']);
  const env = { ...process.env, PGPASSWORD: password };
  const pg: Postgres = {
    port,
    user,
    password,
    dir,
    url: (db = 'postgres') => `postgres://${user}@127.0.0.1:${port}/${db}`,
    psql: (sql, db = 'postgres') =>
      execFileSync(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], {
        encoding: 'utf8',
        env,
      }).trim(),
    createDatabase: (name) => void pg.psql(`CREATE DATABASE "${name}"`),
    log: () => readFileSync(logFile, 'utf8'),
    stop: () => {
      try {
        as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return pg;
}
