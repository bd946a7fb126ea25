/**
 * A real etcd with TLS, optionally client-certificate auth and/or etcd's own user/password auth,
 * for tests of secure clusters. Certificates are made by the test with `openssl` in a temporary
 * directory: a throwaway CA, a server certificate for localhost (DNS:localhost, IP:127.0.0.1), client
 * certificates on demand (CN = etcd user) and an unrelated second CA (to play "the wrong CA").
 * The server listens on free loopback ports; its client URL is `https://localhost:<port>` (grpc-js
 * wants a host name, not an IP, to check the certificate). `close()` stops it and removes everything.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './etcd.js';
import { certificateClockEnv } from './faketime.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CertPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  /** The CA that signed the server and client certificates. */
  ca: string;
  /** Another CA, which signed nothing the server uses: trusting only it must fail. */
  otherCa: string;
  server: CertPair;
  /** A client certificate (CN = name, the etcd user under client-cert auth), signed by `ca`, or by `otherCa` with `{ byOtherCa: true }`. */
  client(name: string, options?: { byOtherCa?: boolean }): CertPair;
}

/** Certificates are valid from ten years ago to ten years ahead (faketime.ts): the suite also runs at other dates. */
function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000, env: certificateClockEnv() });
}

function makeCa(dir: string, name: string, cn: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '7300',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

function signed(dir: string, ca: { cert: string; key: string }, name: string, cn: string, extensions: string): CertPair {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  openssl(dir, ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '7300', '-extfile', ext]);
  return { cert, key };
}

/** A throwaway PKI in `dir`. */
export function makePki(dir: string): Pki {
  const ca = makeCa(dir, 'ca', 'syncer test CA');
  const other = makeCa(dir, 'other-ca', 'some other CA');
  const server = signed(
    dir,
    ca,
    'server',
    'localhost',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  );
  const clients = new Map<string, CertPair>();
  return {
    dir,
    ca: ca.cert,
    otherCa: other.cert,
    server,
    client(name, options = {}) {
      const id = `${options.byOtherCa ? 'other-' : ''}client-${name}`;
      let pair = clients.get(id);
      if (!pair) {
        pair = signed(
          dir,
          options.byOtherCa ? other : ca,
          id,
          name,
          'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
        );
        clients.set(id, pair);
      }
      return pair;
    },
  };
}

export interface SecureEtcdOptions {
  /** Require a client certificate signed by the CA (`--trusted-ca-file --client-cert-auth`). */
  clientCertAuth?: boolean;
}

export interface AuthUsers {
  rootPassword: string;
  /** readwrite on the prefix. */
  alice: { username: 'alice'; password: string };
  /** read only on the prefix. */
  mallory: { username: 'mallory'; password: string };
  /** a user without any role: may not even read. */
  nobody: { username: 'nobody'; password: string };
}

export interface SecureEtcd {
  /** `https://localhost:<port>`, as SYNCER_ETCD_HOSTS wants it. */
  hosts: string;
  pki: Pki;
  /** Set once `enableAuth` ran. */
  users?: AuthUsers;
  /** etcdctl against this server (as root once auth is enabled); returns stdout. */
  etcdctl(args: string[]): string;
  /** key -> value under a prefix, read as an administrator. */
  get(prefix: string): Record<string, string>;
  /**
   * Users root (password), alice (readwrite on `prefix`), mallory (read on `prefix`) and nobody (no
   * role), then `auth enable`.
   */
  enableAuth(prefix: string): AuthUsers;
  /** The server's own log (stderr), for failure messages. */
  log(): string;
  close(): Promise<void>;
}

function healthy(url: string, pki: Pki, client?: CertPair): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${url}/health`,
      {
        ca: readFileSync(pki.ca),
        cert: client ? readFileSync(client.cert) : undefined,
        key: client ? readFileSync(client.key) : undefined,
        timeout: 1000,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

const secret = (who: string) => `pw-${who}-${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;

export async function startSecureEtcd(options: SecureEtcdOptions = {}): Promise<SecureEtcd> {
  const root = mkdtempSync(join(tmpdir(), 'syncer-secure-etcd-'));
  let proc: ChildProcess | undefined;
  const logFile = join(root, 'etcd.log');
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGCONT');
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  };
  try {
    const pki = makePki(mkdtempSync(join(root, 'pki-')));
    const clientPort = await freePort();
    const peerPort = await freePort();
    const clientUrl = `https://localhost:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const args = [
      '--name',
      'secure',
      '--data-dir',
      join(root, 'data'),
      // Listen on the loopback IP; advertise the name the certificate is for.
      '--listen-client-urls',
      `https://127.0.0.1:${clientPort}`,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `secure=${peerUrl}`,
      '--initial-cluster-token',
      `s${Date.now()}`,
      '--initial-cluster-state',
      'new',
      '--cert-file',
      pki.server.cert,
      '--key-file',
      pki.server.key,
      '--heartbeat-interval',
      '50',
      '--election-timeout',
      '500',
      '--log-level',
      'warn',
    ];
    if (options.clientCertAuth) args.push('--trusted-ca-file', pki.ca, '--client-cert-auth');
    const fd = openSync(logFile, 'a');
    proc = spawn(process.env.SYNCER_ETCD_BIN || 'etcd', args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const log = () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    };

    // etcdctl as the administrator: root's client certificate under client-cert auth, root's password once auth is on.
    const adminCert = options.clientCertAuth ? pki.client('root') : undefined;
    let rootPassword: string | undefined;
    const etcdctl = (cmd: string[]): string => {
      const base = ['--endpoints', clientUrl, '--cacert', pki.ca, '--dial-timeout', '5s', '--command-timeout', '10s'];
      if (adminCert) base.push('--cert', adminCert.cert, '--key', adminCert.key);
      if (rootPassword) base.push('--user', `root:${rootPassword}`);
      return execFileSync('etcdctl', [...base, ...cmd], {
        encoding: 'utf8',
        env: { ...process.env, ETCDCTL_API: '3' },
        timeout: 30_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    };

    const deadline = Date.now() + 30_000;
    while (!(await healthy(clientUrl, pki, adminCert))) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`secure etcd did not become healthy at ${clientUrl}:\n${log().slice(-2000)}`);
      await sleep(150);
    }

    let users: AuthUsers | undefined;
    const server: SecureEtcd = {
      hosts: clientUrl,
      pki,
      get users() {
        return users;
      },
      etcdctl,
      get(prefix) {
        const lines = etcdctl(['get', '--prefix', prefix]).split('\n');
        const map: Record<string, string> = {};
        for (let i = 0; i + 1 < lines.length; i += 2) map[lines[i]!] = lines[i + 1]!;
        return map;
      },
      enableAuth(prefix) {
        if (users) return users;
        const made: AuthUsers = {
          rootPassword: secret('root'),
          alice: { username: 'alice', password: secret('alice') },
          mallory: { username: 'mallory', password: secret('mallory') },
          nobody: { username: 'nobody', password: secret('nobody') },
        };
        etcdctl(['user', 'add', `root:${made.rootPassword}`, '--interactive=false']);
        etcdctl(['user', 'grant-role', 'root', 'root']);
        etcdctl(['role', 'add', 'syncer-rw']);
        etcdctl(['role', 'grant-permission', 'syncer-rw', '--prefix=true', 'readwrite', prefix]);
        etcdctl(['role', 'add', 'syncer-ro']);
        etcdctl(['role', 'grant-permission', 'syncer-ro', '--prefix=true', 'read', prefix]);
        for (const u of [made.alice, made.mallory, made.nobody]) etcdctl(['user', 'add', `${u.username}:${u.password}`, '--interactive=false']);
        etcdctl(['user', 'grant-role', 'alice', 'syncer-rw']);
        etcdctl(['user', 'grant-role', 'mallory', 'syncer-ro']);
        etcdctl(['auth', 'enable']);
        rootPassword = made.rootPassword;
        users = made;
        return made;
      },
      log,
      close: async () => {
        await stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
    return server;
  } catch (e) {
    await stop();
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}
