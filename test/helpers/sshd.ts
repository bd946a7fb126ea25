/**
 * A real OpenSSH server on 127.0.0.1 at a free port with Debian's STOCK configuration: the
 * system's /etc/ssh/sshd_config (or, where only the client is installed, Debian 12's default
 * text below) with only what a loopback test needs put in front of it (sshd keeps the first value
 * of an option): Port, ListenAddress, a HostKey made here, an AuthorizedKeysFile in the temp dir,
 * PidFile, StrictModes no. Crucially there is no `AcceptEnv GIT_PROTOCOL`, so git speaks protocol
 * v0 as it does against real stock servers (TECH-NOTES "Real hosting").
 *
 * Clients log in as the current user (root in CI) with the key made here:
 * `env.GIT_SSH_COMMAND` pins the host key (known_hosts pre-filled); `sshCommand()` builds variants
 * (an empty known_hosts, a key that is not authorised). Repositories are addressed by absolute
 * path: `url('/abs/path.git')` is ssh://USER@127.0.0.1:PORT/abs/path.git.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentUser, freePort, requireBinary, spawnServer, stopProcess, waitForPort } from './server-util.js';

/** Debian 12's /etc/ssh/sshd_config without its comments (openssh-server 1:9.2p1-2). */
const DEBIAN_STOCK = `Include /etc/ssh/sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem	sftp	/usr/lib/openssh/sftp-server
`;

export interface Sshd {
  port: number;
  user: string;
  dir: string;
  /** The client key authorised on the server (private key path). */
  clientKey: string;
  /** A second key that is NOT in authorized_keys. */
  strangerKey: string;
  /** known_hosts holding this server's host key. */
  knownHosts: string;
  /** An empty known_hosts (host key verification fails with StrictHostKeyChecking=yes). */
  emptyKnownHosts: string;
  /** The sshd_config in use (stock text with the loopback settings in front). */
  configFile: string;
  /** ssh://USER@127.0.0.1:PORT<absPath> */
  url(absPath: string): string;
  /** GIT_SSH_COMMAND for a client: the authorised key and the filled known_hosts unless told otherwise. */
  sshCommand(options?: { key?: string; knownHosts?: string }): string;
  /** { GIT_SSH_COMMAND } for the authorised key and the known host. */
  env: Record<string, string>;
  logs(): string;
  close(): Promise<void>;
}

function keygen(path: string, comment: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { stdio: 'ignore' });
}

export async function startSshd(): Promise<Sshd> {
  const sshd = requireBinary('sshd', 'openssh-server', ['/usr/sbin/sshd']);
  requireBinary('ssh', 'openssh-client');
  requireBinary('ssh-keygen', 'openssh-client');
  const dir = mkdtempSync(join(tmpdir(), 'syncer-sshd-'));
  try {
    chmodSync(dir, 0o700);
    // Privilege separation directory (Debian's init script creates it; a container has none).
    if (!existsSync('/run/sshd') && process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    const clientKey = join(dir, 'client_ed25519');
    const strangerKey = join(dir, 'stranger_ed25519');
    keygen(hostKey, 'syncer-test-host');
    keygen(clientKey, 'syncer-test-client');
    keygen(strangerKey, 'syncer-test-stranger');
    const authorizedKeys = join(dir, 'authorized_keys');
    writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
    const port = await freePort();
    const knownHosts = join(dir, 'known_hosts');
    const hostPub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
    const emptyKnownHosts = join(dir, 'known_hosts.empty');
    writeFileSync(emptyKnownHosts, '');

    const stock = existsSync('/etc/ssh/sshd_config') ? readFileSync('/etc/ssh/sshd_config', 'utf8') : DEBIAN_STOCK;
    const root = process.getuid?.() === 0;
    const configFile = join(dir, 'sshd_config');
    writeFileSync(
      configFile,
      [
        '# Loopback test settings (sshd keeps the first value it reads of an option); the stock file follows.',
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'StrictModes no',
        // Without root, sshd cannot use PAM to switch users: log in as ourselves without it.
        ...(root ? [] : ['UsePAM no']),
        '',
        stock,
      ].join('\n'),
    );
    // Refuse to run a configuration that would make the test meaningless.
    if (/^\s*AcceptEnv\b.*\bGIT_PROTOCOL\b/im.test(stock)) {
      throw new Error('/etc/ssh/sshd_config has AcceptEnv GIT_PROTOCOL: the hosting tests need a stock server (git protocol v0 over ssh)');
    }
    try {
      execFileSync(sshd, ['-t', '-f', configFile], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`sshd -t rejected the test configuration ${configFile}: ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
    }
    const { proc, logs } = spawnServer(sshd, ['-D', '-e', '-f', configFile]);
    try {
      await waitForPort(port, proc, 'sshd', logs);
    } catch (e) {
      await stopProcess(proc);
      throw e;
    }
    const user = currentUser();
    const sshCommand = (options: { key?: string; knownHosts?: string } = {}) =>
      [
        'ssh',
        '-i',
        options.key ?? clientKey,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        `UserKnownHostsFile=${options.knownHosts ?? knownHosts}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'ConnectTimeout=10',
        '-p',
        String(port),
      ].join(' ');
    return {
      port,
      user,
      dir,
      clientKey,
      strangerKey,
      knownHosts,
      emptyKnownHosts,
      configFile,
      url: (absPath) => `ssh://${user}@127.0.0.1:${port}${absPath.startsWith('/') ? '' : '/'}${absPath}`,
      sshCommand,
      env: { GIT_SSH_COMMAND: sshCommand() },
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
