/**
 * The one module that runs git. Every git process: no terminal prompts (GIT_TERMINAL_PROMPT=0),
 * the user's GIT_SSH_COMMAND honoured, a stall deadline (killed when it prints nothing for that
 * long, so a slow clone that is still making progress survives), cancellable, and its failure
 * turned into a SyncerError (exit 4) carrying git's own `fatal:` line. Arguments are always an
 * array: nothing from the registry ever reaches a shell.
 */
import { simpleGit, GitError, GitPluginError, type SimpleGit, type SimpleGitProgressEvent } from 'simple-git';
import { SyncerError, interrupted } from '../errors.js';

/** Variables passed through to git from the user's environment (simple-git strips GIT_* otherwise). */
const PASSED_GIT_VARS = [
  'GIT_SSH_COMMAND',
  'GIT_SSH',
  'GIT_SSH_VARIANT',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_NOSYSTEM',
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
  progress?: (event: SimpleGitProgressEvent) => void;
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
    if (upper.startsWith('GIT_') && !PASSED_GIT_VARS.includes(upper)) continue;
    if (['EDITOR', 'VISUAL', 'PAGER', 'GIT_PAGER', 'SSH_ASKPASS', 'GIT_ASKPASS', 'PREFIX'].includes(upper)) continue;
    out[k] = v;
  }
  out.GIT_TERMINAL_PROMPT = '0';
  out.GCM_INTERACTIVE = 'never';
  out.LC_ALL = 'C';
  return out;
}

/** git's `fatal:`/`error:` line, or the first line of its output. */
export function gitFailure(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.find((l) => /rejected/.test(l)) ?? lines[0] ?? 'git failed';
  // Why the remote refused: "[remote rejected] (pre-receive hook declined)" and what the hook said.
  const reasons = lines.filter((l) => /\[(remote )?rejected\]/.test(l)).map((l) => l.replace(/^.*?(\[(remote )?rejected\].*)$/, '$1'));
  const remote = lines.filter((l) => /^remote:\s*\S/.test(l)).map((l) => l.replace(/^remote:\s*/, '')).slice(0, 3);
  const extra = [...new Set(reasons)].concat(remote.length ? [`remote said: ${remote.join(' / ')}`] : []);
  return [line, ...extra.filter((x) => x !== line)].join('; ').slice(0, 600);
}

export class Git {
  readonly dir: string;
  private readonly ctx: GitContext;

  constructor(dir: string, ctx: GitContext) {
    this.dir = dir;
    this.ctx = ctx;
  }

  private client(options: { network: boolean; progress: boolean }): SimpleGit {
    const env = gitEnv(this.ctx.env);
    const allow = Object.keys(env).filter((k) => k.toUpperCase().startsWith('GIT_') || k.toUpperCase() === 'GCM_INTERACTIVE');
    const block = options.network ? this.ctx.stallTimeoutMs : Math.max(this.ctx.stallTimeoutMs, 300_000);
    return simpleGit({
      baseDir: this.dir,
      timeout: { block },
      abort: this.ctx.signal,
      progress: options.progress ? this.ctx.progress : undefined,
      allowEnvironment: allow,
      unsafe: { allowUnsafeSshCommand: true, allowUnsafeProtocolOverride: true, allowUnsafeConfigPaths: true },
    } as never).env(env);
  }

  /**
   * Local commands run through execa: simple-git waits an extra 50 ms after every command that
   * prints nothing, which added half a second to a retrieve (bench/). Network commands keep
   * simple-git for its progress events and its stall deadline.
   */
  private async runLocal(args: string[], what: string, allowFailure: boolean, input?: string): Promise<string | undefined> {
    const { execa } = await import('execa');
    let res;
    try {
      res = await execa('git', args, {
        cwd: this.dir,
        env: gitEnv(this.ctx.env),
        extendEnv: false,
        stripFinalNewline: false,
        reject: false,
        timeout: Math.max(this.ctx.stallTimeoutMs, 300_000),
        cancelSignal: this.ctx.signal,
        ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
      });
    } catch (e) {
      throw this.mapError(e, what);
    }
    if (res.isCanceled || this.ctx.signal?.aborted) throw interrupted();
    if ((res as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String((res as { originalMessage?: string }).originalMessage ?? ''))) {
      throw new SyncerError('GIT', 'git is not installed (or not on PATH)', { hint: 'install git: apt-get install -y git' });
    }
    if (res.timedOut) throw new SyncerError('GIT', `${what} did not finish in time and was stopped`);
    if (res.exitCode === 0) return res.stdout;
    if (allowFailure) return undefined;
    throw new SyncerError('GIT', `${what} failed: ${gitFailure(`${res.stderr}\n${res.stdout}`)}`);
  }

  /** Run `git <args>` and return stdout. `network` operations get the stall deadline and progress. */
  async run(args: string[], options: { network?: boolean; what?: string; input?: string } = {}): Promise<string> {
    const network = options.network ?? false;
    if (!network) return (await this.runLocal(args, options.what ?? `git ${args[0]}`, false, options.input))!;
    const progress = network && !!this.ctx.progress;
    const git = this.client({ network, progress });
    // simple-git appends --progress to the end, where a `--` would make it a refspec or path:
    // put it before the `--` ourselves (simple-git then leaves it alone).
    const sep = args.indexOf('--');
    if (progress && sep > 0 && !args.includes('--progress')) args = [...args.slice(0, sep), '--progress', ...args.slice(sep)];
    try {
      return await git.raw(args);
    } catch (e) {
      throw this.mapError(e, options.what ?? `git ${args[0]}`);
    }
  }

  private mapError(e: unknown, what: string): SyncerError {
    if (this.ctx.signal?.aborted) return interrupted();
    if (e instanceof GitPluginError) {
      if (e.plugin === 'abort') return interrupted();
      if (e.plugin === 'timeout') {
        return new SyncerError('GIT', `${what} made no progress for ${Math.round(this.ctx.stallTimeoutMs / 1000)} s and was stopped`, {
          hint: 'check the remote is reachable; raise gitStallTimeoutSeconds (SYNCER_GIT_STALL_TIMEOUT) for very slow links',
          cause: e,
        });
      }
      return new SyncerError('GIT', `${what} refused: ${e.message}`, { cause: e });
    }
    if (e instanceof GitError) {
      return new SyncerError('GIT', `${what} failed: ${gitFailure(e.message)}`, { cause: e });
    }
    if ((e as NodeJS.ErrnoException)?.code === 'ENOENT') {
      return new SyncerError('GIT', 'git is not installed (or not on PATH)', { hint: 'install git: apt-get install -y git', cause: e });
    }
    return new SyncerError('GIT', `${what} failed: ${(e as Error)?.message ?? e}`, { cause: e });
  }

  /** Like run, but a non-zero exit is an answer (undefined), not an error. */
  async tryRun(args: string[]): Promise<string | undefined> {
    return this.runLocal(args, `git ${args[0]}`, true);
  }

  async isRepoRoot(): Promise<boolean> {
    const top = await this.tryRun(['rev-parse', '--show-toplevel']);
    return top !== undefined;
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

export type { SimpleGitProgressEvent };
