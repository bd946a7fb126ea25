/**
 * A real web server from Debian (lighttpd) on 127.0.0.1 serving git over http and https, as a
 * research group would host it:
 * - smart http: `git http-backend` as CGI under /git/ (GIT_PROJECT_ROOT = `projectRoot`,
 *   GIT_HTTP_EXPORT_ALL), pushes allowed where the repository says `http.receivepack true`
 *   (`allowPush(dir)`);
 * - the same under /auth/ behind basic auth (user `syncer`, password in `password`);
 * - dumb http: the bare repositories as plain static files under /dumb/ (`enableDumb(dir)` runs
 *   `git update-server-info` and installs the post-update hook that keeps it current);
 * - https on a second port with a certificate for 127.0.0.1 and localhost signed by a CA made here
 *   with openssl: clients trust it with GIT_SSL_CAINFO=`caFile` (`httpsEnv`).
 *
 * lighttpd settings that matter (the hosting guide quotes them): mod_cgi with `cgi.assign = ("" =>
 * "")` on an alias to /usr/lib/git-core/git-http-backend, `setenv.add-environment` with
 * GIT_PROJECT_ROOT and GIT_HTTP_EXPORT_ALL; partial clone then needs only `uploadpack.allowFilter`
 * in the repository (http is protocol v2: git sends Git-Protocol as a header, which lighttpd passes
 * to the CGI as HTTP_GIT_PROTOCOL).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, spawnServer, stopProcess, waitForPort } from './server-util.js';
import { certificateClockEnv } from './faketime.js';

export const HTTP_BACKEND_CANDIDATES = ['/usr/lib/git-core/git-http-backend', '/usr/libexec/git-core/git-http-backend'];

export interface HttpGit {
  httpPort: number;
  httpsPort: number;
  projectRoot: string;
  dir: string;
  /** The CA certificate that signed the server's (GIT_SSL_CAINFO). */
  caFile: string;
  user: string;
  password: string;
  /** http://127.0.0.1:PORT/git/<name> (smart, anonymous) */
  httpUrl(name: string): string;
  /** https://127.0.0.1:PORT/git/<name> */
  httpsUrl(name: string): string;
  /** http://127.0.0.1:PORT/auth/<name>: basic auth required; `credentials` puts user:password in the URL. */
  authUrl(name: string, credentials?: { user: string; password: string }): string;
  /** http://127.0.0.1:PORT/dumb/<name>: static files only. */
  dumbUrl(name: string): string;
  /** { GIT_SSL_CAINFO } */
  httpsEnv: Record<string, string>;
  logs(): string;
  close(): Promise<void>;
}

/** Let `git http-backend` accept pushes to this bare repository without authentication. */
export function allowPush(bareDir: string): void {
  execFileSync('git', ['config', 'http.receivepack', 'true'], { cwd: bareDir });
}

/** Make a bare repository servable by a dumb (static file) server, now and after every push. */
export function enableDumb(bareDir: string): void {
  const hook = join(bareDir, 'hooks', 'post-update');
  mkdirSync(join(bareDir, 'hooks'), { recursive: true });
  writeFileSync(hook, '#!/bin/sh\nexec git update-server-info\n');
  chmodSync(hook, 0o755);
  execFileSync('git', ['update-server-info'], { cwd: bareDir });
}

function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const openssl = requireBinary('openssl', 'openssl');
  // Valid from ten years ago to ten years ahead (faketime.ts): the suite also runs at other dates.
  const run = (...args: string[]) => execFileSync(openssl, args, { cwd: dir, stdio: 'pipe', env: certificateClockEnv() });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '7300',
    '-subj',
    '/CN=syncer test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run('req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1');
  writeFileSync(
    ext,
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  run('x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '7300', '-extfile', ext);
  return { caFile, certFile, keyFile };
}

const q = (s: string) => JSON.stringify(s); // lighttpd strings are double-quoted like JSON's

export async function startHttpGit(options: { projectRoot: string }): Promise<HttpGit> {
  const lighttpd = requireBinary('lighttpd', 'lighttpd lighttpd-mod-openssl');
  const backend = HTTP_BACKEND_CANDIDATES.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!backend) throw new Error(`git-http-backend not found (${HTTP_BACKEND_CANDIDATES.join(', ')}): install git (Debian: apt-get install -y git)`);
  const modules = '/usr/lib/lighttpd';
  if (!existsSync(join(modules, 'mod_openssl.so'))) {
    throw new Error(`${modules}/mod_openssl.so is missing: the https tests need it (Debian: apt-get install -y lighttpd-mod-openssl)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'syncer-httpd-'));
  try {
    const { caFile, certFile, keyFile } = makeCertificates(dir);
    const www = join(dir, 'www');
    mkdirSync(www);
    const user = 'syncer';
    const password = `pw-${Math.random().toString(36).slice(2, 10)}`;
    const userFile = join(dir, 'users');
    writeFileSync(userFile, `${user}:${password}\n`, { mode: 0o600 });
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const root = options.projectRoot.replace(/\/+$/, '');
    const conf = join(dir, 'lighttpd.conf');
    const gitEnv = `setenv.add-environment = ( "GIT_PROJECT_ROOT" => ${q(root)}, "GIT_HTTP_EXPORT_ALL" => "" )`;
    writeFileSync(
      conf,
      `server.modules = ( "mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi", "mod_openssl", "mod_accesslog" )
server.document-root = ${q(www)}
server.bind = "127.0.0.1"
server.port = ${httpPort}
server.pid-file = ${q(join(dir, 'lighttpd.pid'))}
server.errorlog = ${q(join(dir, 'error.log'))}
accesslog.filename = ${q(join(dir, 'access.log'))}
server.max-request-size = 0
# Large pushes and packs: stream request and response bodies instead of buffering them.
server.stream-request-body = 2
server.stream-response-body = 2

# Smart http: git http-backend as CGI. The backend receives the path after the alias as PATH_INFO.
alias.url = (
  "/git/" => ${q(`${backend}/`)},
  "/auth/" => ${q(`${backend}/`)},
  "/dumb/" => ${q(`${root}/`)},
)
$HTTP["url"] =~ "^/(git|auth)/" {
  cgi.assign = ( "" => "" )
  ${gitEnv}
}
$HTTP["url"] =~ "^/auth/" {
  auth.backend = "plain"
  auth.backend.plain.userfile = ${q(userFile)}
  auth.require = ( "" => ( "method" => "basic", "realm" => "syncer test", "require" => "valid-user" ) )
}

$SERVER["socket"] == "127.0.0.1:${httpsPort}" {
  ssl.engine = "enable"
  ssl.pemfile = ${q(certFile)}
  ssl.privkey = ${q(keyFile)}
}
`,
    );
    try {
      execFileSync(lighttpd, ['-tt', '-f', conf], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`lighttpd rejected the test configuration ${conf}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
    }
    const { proc, logs: procLogs } = spawnServer(lighttpd, ['-D', '-f', conf]);
    const logs = () => {
      let text = procLogs();
      try {
        text += execFileSync('tail', ['-n', '40', join(dir, 'error.log')], { encoding: 'utf8' });
      } catch {
        /* no log yet */
      }
      return text;
    };
    try {
      await waitForPort(httpPort, proc, 'lighttpd', logs);
      await waitForPort(httpsPort, proc, 'lighttpd (https)', logs);
    } catch (e) {
      await stopProcess(proc);
      throw e;
    }
    const base = (scheme: string, port: number, loc: string, name: string) => `${scheme}://127.0.0.1:${port}/${loc}/${name.replace(/^\/+/, '')}`;
    return {
      httpPort,
      httpsPort,
      projectRoot: root,
      dir,
      caFile,
      user,
      password,
      httpUrl: (name) => base('http', httpPort, 'git', name),
      httpsUrl: (name) => base('https', httpsPort, 'git', name),
      authUrl: (name, cred) =>
        cred
          ? `http://${encodeURIComponent(cred.user)}:${encodeURIComponent(cred.password)}@127.0.0.1:${httpPort}/auth/${name.replace(/^\/+/, '')}`
          : base('http', httpPort, 'auth', name),
      dumbUrl: (name) => base('http', httpPort, 'dumb', name),
      httpsEnv: { GIT_SSL_CAINFO: caFile },
      logs,
      close: async () => {
        await stopProcess(proc);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
