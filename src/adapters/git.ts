/**
 * The git runner: every git process starts here (through git-local.ts, git-process.ts or
 * git-bytes.ts); the verbs in the git-*.ts files beside it say what they do with it, and commands
 * call those verbs, never argv. Every git process: no terminal prompts (GIT_TERMINAL_PROMPT=0),
 * the user's GIT_SSH_COMMAND honoured, a stall deadline (killed when it prints nothing for that
 * long, so a slow clone that is still making progress survives), cancellable, and its failure
 * turned into a SyncerError (exit 4) carrying git's own `fatal:` line. Arguments are always an
 * array: nothing from the registry ever reaches a shell.
 */
import { SyncerError, interrupted } from '../errors.js';
import { gitFailure, gitFailureHint, HANDSHAKE_DEFAULTS, handshakeFailure } from '../core/git-failure.js';
import type { GitProgressEvent, HandshakeLimits } from './git-process.js';

export { gitFailure };
export type { GitProgressEvent };

/** GIT_* variables passed through to git from the user's environment (every other GIT_* is dropped). */
const PASSED_GIT_VARS = [
  'GIT_SSH_COMMAND',
  'GIT_SSH',
  'GIT_SSH_VARIANT',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
  'GIT_SSL_CERT',
  'GIT_SSL_KEY',
  'GIT_SSL_CERT_PASSWORD_PROTECTED',
  'GIT_PROXY_COMMAND',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_SYSTEM',
  'GIT_CONFIG_NOSYSTEM',
  'GIT_CONFIG_COUNT',
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'GIT_AUTHOR_DATE',
  'GIT_COMMITTER_DATE',
];

export interface GitContext {
  env: NodeJS.ProcessEnv;
  /** Kill a git that prints nothing for this long. */
  stallTimeoutMs: number;
  signal?: AbortSignal;
  progress?: (event: GitProgressEvent) => void;
  /** Caps on what a fetch, ls-remote or push reads before the pack, and how long that lasts (default: HANDSHAKE_DEFAULTS). */
  handshake?: HandshakeLimits;
}

/**
 * `-c` options that make git itself refuse every transport but the allowed ones (defence in
 * depth behind the URL checks: registry data never picks ext::, fd:: or another helper).
 */
export function protocolArgs(transports: readonly string[]): string[] {
  return ['-c', 'protocol.allow=never', ...transports.flatMap((t) => ['-c', `protocol.${t}.allow=always`])];
}

export function gitEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const upper = k.toUpperCase();
    // The user's own `git -c` settings in the environment (GIT_CONFIG_KEY_<n>/GIT_CONFIG_VALUE_<n>).
    const userConfig = /^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(upper);
    if (upper.startsWith('GIT_') && !PASSED_GIT_VARS.includes(upper) && !userConfig) continue;
    if (['EDITOR', 'VISUAL', 'PAGER', 'GIT_PAGER', 'SSH_ASKPASS', 'GIT_ASKPASS', 'PREFIX'].includes(upper)) continue;
    out[k] = v;
  }
  out.GIT_TERMINAL_PROMPT = '0';
  out.GCM_INTERACTIVE = 'never';
  out.LC_ALL = 'C';
  return out;
}

/** Verbs that take --progress: asked for always, so the stall deadline sees bytes moving. */
const PROGRESS_VERBS = new Set(['fetch', 'push', 'clone']);

/** args with --progress after a fetch, push or clone verb (and without --quiet, which hides it). */
export function withProgress(args: string[]): string[] {
  const verb = args.findIndex((a, i) => !a.startsWith('-') && args[i - 1] !== '-c');
  if (verb < 0 || !PROGRESS_VERBS.has(args[verb]!)) return args;
  const sep = args.indexOf('--');
  const options = args.slice(verb + 1, sep < 0 ? undefined : sep).filter((a) => a !== '--quiet' && a !== '-q' && a !== '--progress');
  return [...args.slice(0, verb + 1), '--progress', ...options, ...(sep < 0 ? [] : args.slice(sep))];
}

/** An ssh URL among the command's words, for the hint's ssh-keyscan line. */
function urlIn(words: string[]): string | undefined {
  return words.find((w) => /^ssh:\/\/|^[^\s/:@]+@[^\s/:]+:/.test(w));
}

export interface GitTransferResult {
  stdout: string;
  /** git's messages (warnings included), without its progress meter. */
  stderr: string;
}

export class Git {
  readonly dir: string;
  private readonly ctx: GitContext;

  constructor(dir: string, ctx: GitContext) {
    this.dir = dir;
    this.ctx = ctx;
  }

  /**
   * Local commands run through node:child_process (git-local.ts) with a generous deadline. Network
   * commands run through git-process.ts for progress and a stall deadline that watches bytes moving.
   */
  private async runLocal(args: string[], what: string, allowFailure: boolean, input?: string): Promise<string | undefined> {
    const { runLocalGit } = await import('./git-local.js');
    let res: Awaited<ReturnType<typeof runLocalGit>>;
    try {
      res = await runLocalGit(args, {
        cwd: this.dir,
        env: gitEnv(this.ctx.env),
        timeoutMs: Math.max(this.ctx.stallTimeoutMs, 300_000),
        signal: this.ctx.signal,
        input,
      });
    } catch (e) {
      throw this.mapError(e, what);
    }
    if (res.aborted || this.ctx.signal?.aborted) throw interrupted();
    if (res.timedOut) throw new SyncerError('REMOTE', `${what} did not finish in time and was stopped`);
    if (res.exitCode === 0) return res.stdout;
    if (allowFailure) return undefined;
    throw new SyncerError('REMOTE', `${what} failed: ${gitFailure(`${res.stderr}\n${res.stdout}`)}`);
  }

  /** Run `git <args>` and return stdout. `network` operations get the stall deadline and progress. */
  async run(args: string[], options: { network?: boolean; what?: string; input?: string } = {}): Promise<string> {
    if (!options.network) return (await this.runLocal(args, options.what ?? `git ${args[0]}`, false, options.input))!;
    return (await this.transfer(args, options)).stdout;
  }

  /**
   * A git command that talks to a remote: progress always asked for (shown on a TTY only), cut off
   * when no bytes move for the stall deadline, and a failure carrying git's reason and its fix.
   */
  async transfer(args: string[], options: { what?: string; input?: string } = {}): Promise<GitTransferResult> {
    const what = options.what ?? `git ${args[0]}`;
    const { runGitProcess } = await import('./git-process.js');
    const handshake = this.ctx.handshake ?? { maxBytes: HANDSHAKE_DEFAULTS.mib * 1048576, maxMs: HANDSHAKE_DEFAULTS.seconds * 1000 };
    let res: Awaited<ReturnType<typeof runGitProcess>>;
    try {
      res = await runGitProcess(withProgress(args), {
        cwd: this.dir,
        env: gitEnv(this.ctx.env),
        stallMs: this.ctx.stallTimeoutMs,
        signal: this.ctx.signal,
        input: options.input,
        onProgress: this.ctx.progress,
        handshake,
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') {
        throw new SyncerError('REMOTE', 'git is not installed (or not on PATH)', { hint: 'install git: apt-get install -y git', cause: e });
      }
      throw new SyncerError('REMOTE', `${what} failed: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    if (res.aborted || this.ctx.signal?.aborted) throw interrupted();
    if (res.handshake) {
      const { reason, hint } = handshakeFailure(res.handshake, handshake);
      throw new SyncerError('REMOTE', `${what} was stopped: ${reason}`, { hint });
    }
    if (res.stalled) {
      throw new SyncerError('REMOTE', `${what} made no progress for ${Math.round(this.ctx.stallTimeoutMs / 1000)} s and was stopped`, {
        hint: 'check the remote is reachable; raise gitStallTimeoutSeconds (SYNCER_GIT_STALL_TIMEOUT) for links that pause that long',
      });
    }
    if (res.exitCode !== 0) {
      const hint = gitFailureHint(res.stderr, urlIn([...args, ...what.split(' ')]) ?? (await this.namedRemoteUrl(args)));
      // push --porcelain reports refused refs ("[rejected] (fetch first)") on stdout.
      const text = `${res.stderr}\n${res.stdout}`.trim() || `exit code ${res.exitCode}`;
      throw new SyncerError('REMOTE', `${what} failed: ${gitFailure(text)}`, hint ? { hint } : {});
    }
    return { stdout: res.stdout, stderr: res.stderr };
  }

  /** The URL of a configured remote named among the arguments ("origin"), for a hint. */
  private async namedRemoteUrl(args: string[]): Promise<string | undefined> {
    const remotes = new Set(((await this.tryRun(['remote'])) ?? '').split('\n').filter(Boolean));
    const name = args.find((a) => remotes.has(a));
    return name ? this.remoteUrl(name) : undefined;
  }

  private mapError(e: unknown, what: string): SyncerError {
    if (this.ctx.signal?.aborted) return interrupted();
    if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') {
      return new SyncerError('REMOTE', 'git is not installed (or not on PATH)', { hint: 'install git: apt-get install -y git', cause: e });
    }
    return new SyncerError('REMOTE', `${what} failed: ${(e as Error)?.message ?? e}`, { cause: e });
  }

  /** Like run, but a non-zero exit is an answer (undefined), not an error. */
  async tryRun(args: string[], options: { input?: string } = {}): Promise<string | undefined> {
    return this.runLocal(args, `git ${args[0]}`, true, options.input);
  }

  /** Binary, bounded output (git-bytes.ts) under this runner's environment, stall deadline and signal. */
  async bytes(args: string[], options: { input?: string; maxBytes?: number; what: string }): Promise<{ out: Buffer; truncated: boolean }> {
    const { gitBytes } = await import('./git-bytes.js');
    return gitBytes(this.dir, args, { env: this.ctx.env, signal: this.ctx.signal, stallMs: this.ctx.stallTimeoutMs, ...options });
  }

  /** `git <args>` with its stdout written to the open file `fd`. Whether git succeeded. */
  async toFile(args: string[], fd: number): Promise<boolean> {
    const { gitToFile } = await import('./git-bytes.js');
    return gitToFile(this.dir, args, fd, this.ctx.env);
  }

  async topLevel(): Promise<string | undefined> {
    return (await this.tryRun(['rev-parse', '--show-toplevel']))?.trim();
  }

  async currentBranch(): Promise<string | undefined> {
    const out = await this.tryRun(['symbolic-ref', '--quiet', '--short', 'HEAD']);
    return out?.trim() || undefined;
  }

  async revParse(ref: string): Promise<string | undefined> {
    const out = await this.tryRun(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
    return out?.trim() || undefined;
  }

  async remoteUrl(remote: string): Promise<string | undefined> {
    const out = await this.tryRun(['remote', 'get-url', '--push', '--', remote]);
    return out?.trim() || undefined;
  }

  async configGet(key: string): Promise<string | undefined> {
    return (await this.tryRun(['config', '--get', key]))?.trim() || undefined;
  }

  /** Changed, staged or untracked paths under `paths` (porcelain v1, -z). */
  async changedPaths(paths: string[]): Promise<string[]> {
    const out = await this.run(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', ...paths]);
    const entries = out.split('\0').filter(Boolean);
    const files: string[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      files.push(e.slice(3));
      if (e[0] === 'R' || e[0] === 'C') i++; // rename/copy: the next entry is the source
    }
    return files;
  }

  /** {files, bytes} of the tree at `commit` under `path`. */
  async treeSize(commit: string, path: string): Promise<{ files: number; bytes: number }> {
    const out = await this.run(['ls-tree', '-r', '-l', '-z', commit, '--', path]);
    let files = 0;
    let bytes = 0;
    for (const entry of out.split('\0')) {
      const m = /^\d+ blob [0-9a-f]+\s+(\d+)\t/.exec(entry);
      if (!m) continue;
      files++;
      bytes += Number(m[1]);
    }
    return { files, bytes };
  }
}
