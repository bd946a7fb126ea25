/**
 * A test world: operators with their own working repository, bare remote (served over file://
 * with partial-clone filters allowed), HOME (so config and keys are per operator) and a way to run
 * the real `syncer` binary as that operator.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { faketimeEnv, inheritedFaketime, releaseFaketime } from './faketime.js';

export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/syncer.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** A date/time for the whole process tree (libfaketime), e.g. '2026-11-01 12:00:00'. */
  at?: string;
  cwd?: string;
  input?: string;
  /** Leave stdin open and silent (a launcher that never closes it): nothing may wait on it. */
  stdinOpen?: boolean;
  timeoutMs?: number;
  /** Options for node itself, before the script (e.g. a heap limit, an --import hook). */
  nodeArgs?: string[];
  /** Called with the child once spawned (to send it signals). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

/** Environment for child processes: no CI marker leaks in unless a test sets it. */
export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C.UTF-8', SYNCER_ETCD_BIN: process.env.SYNCER_ETCD_BIN, ...inheritedFaketime() };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  // '2026-11-01 12:00:00' starts the clock there; '+3h' (or '-1d') shifts it from now.
  const env = baseEnv({ ...options.env, ...(options.at ? faketimeEnv(options.at) : {}) });
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (!options.stdinOpen) child.stdin.end(options.input ?? '');
    options.onSpawn?.(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (options.at) releaseFaketime(child.pid);
      resolvePromise({ code: code ?? (signal ? 128 + 9 : -1), stdout, stderr, ms: Date.now() - started });
    });
  });
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }).trim();
}

export interface Operator {
  name: string;
  home: string;
  repo: string;
  remoteDir: string;
  remoteUrl: string;
  importDir: string;
  env: Record<string, string | undefined>;
  /** Run syncer as this operator. */
  syncer(args: string[], options?: RunOptions): Promise<RunResult>;
  /** Write files under the working repository. */
  write(files: Record<string, string | Buffer>): void;
}

export class World {
  readonly root: string;
  constructor(
    readonly etcdHosts: string,
    readonly namespace = `t${Math.random().toString(36).slice(2, 10)}/`,
  ) {
    this.root = mkdtempSync(join(tmpdir(), 'syncer-world-'));
  }

  /** A bare repository usable as a remote; partial-clone filters allowed (TECH-NOTES). */
  bareRemote(name: string): { dir: string; url: string } {
    const dir = join(this.root, 'remotes', `${name}.git`);
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '--quiet', '--bare', '-b', 'main');
    git(dir, 'config', 'uploadpack.allowFilter', 'true');
    git(dir, 'config', 'uploadpack.allowAnySHA1InWant', 'true');
    return { dir, url: `file://${dir}` };
  }

  /** A new operator with its repository (one initial commit), remote and config (via syncer init). */
  async operator(name: string, options: { init?: boolean; remoteUrl?: string } = {}): Promise<Operator> {
    const home = join(this.root, 'homes', name);
    const repo = join(this.root, 'repos', name);
    const importDir = join(this.root, 'imports', name);
    mkdirSync(home, { recursive: true });
    mkdirSync(repo, { recursive: true });
    const remote = this.bareRemote(name);
    git(repo, 'init', '--quiet', '-b', 'main');
    git(repo, 'config', 'user.name', `Operator ${name}`);
    git(repo, 'config', 'user.email', `${name}@example.org`);
    writeFileSync(join(repo, 'README.md'), `data of ${name}\n`);
    git(repo, 'add', 'README.md');
    git(repo, 'commit', '--quiet', '-m', 'initial');
    git(repo, 'remote', 'add', 'origin', options.remoteUrl ?? remote.url);
    const env = { HOME: home, XDG_CONFIG_HOME: undefined, XDG_DATA_HOME: undefined, SYNCER_ETCD_HOSTS: this.etcdHosts, SYNCER_ETCD_NAMESPACE: this.namespace };
    const op: Operator = {
      name,
      home,
      repo,
      remoteDir: remote.dir,
      remoteUrl: remote.url,
      importDir,
      env,
      syncer: (args, opts = {}) => run(args, { ...opts, env: { ...env, ...opts.env } }),
      write: (files) => {
        for (const [path, content] of Object.entries(files)) {
          mkdirSync(dirname(join(repo, path)), { recursive: true });
          writeFileSync(join(repo, path), content);
        }
      },
    };
    if (options.init !== false) {
      const r = await op.syncer(['init', '--operator', name, '--repo', repo, '--import-dir', importDir]);
      if (r.code !== 0) throw new Error(`init ${name} failed: ${r.stderr}`);
    }
    return op;
  }

  /** etcdctl get with our namespace, as a map key -> value. */
  etcdGet(prefix = ''): Record<string, string> {
    const out = execFileSync('etcdctl', ['--endpoints', this.etcdHosts, 'get', '--prefix', this.namespace + prefix], {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const lines = out.split('\n');
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < lines.length; i += 2) map[lines[i]!] = lines[i + 1]!;
    return map;
  }

  etcdPut(key: string, value: string): void {
    execFileSync('etcdctl', ['--endpoints', this.etcdHosts, 'put', this.namespace + key, '--', value], { env: { ...process.env, ETCDCTL_API: '3' } });
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
