/** syncer doctor: check git, config, repository, remote and etcd, and say what to fix. */
import { existsSync, accessSync, constants } from 'node:fs';
import { SyncerError, ExitCode } from '../../errors.js';
import { classifyRemote, publicRemoteUrl, redactUrl } from '../../core/remote-url.js';
import type { Runtime } from '../../runtime.js';
import type { Git } from '../../adapters/git.js';
import { gitVersion } from '../../adapters/git-repo.js';
import { lsRemote } from '../../adapters/git-remote.js';
import type { Config } from '../../config/schema.js';

interface Check {
  check: string;
  ok: boolean;
  detail: string;
  hint?: string;
  code?: number;
}

async function attempt(name: string, code: number, fn: () => Promise<string>): Promise<Check> {
  try {
    return { check: name, ok: true, detail: await fn() };
  } catch (e) {
    const err = e instanceof SyncerError ? e : undefined;
    return { check: name, ok: false, detail: err?.message ?? String((e as Error)?.message ?? e), hint: err?.hint, code: err?.exitCode ?? code };
  }
}

export async function doctor(rt: Runtime): Promise<Check[]> {
  const checks: Check[] = [];
  let cfg: Config | undefined;
  checks.push(await attempt('config', ExitCode.USAGE, async () => checkConfig(rt, (c) => (cfg = c))));
  checks.push(await attempt('git', ExitCode.REMOTE, () => gitVersion(rt.git(rt.deps.cwd).git)));
  if (!cfg) return checks;
  const c: Config = cfg;
  const repoGit = c.repoPath && existsSync(c.repoPath) ? rt.git(c.repoPath).git : undefined;
  checks.push(await attempt('repository', ExitCode.USAGE, () => checkRepository(c, repoGit)));
  checks.push(await attempt('remote', ExitCode.REMOTE, () => checkRemote(c, repoGit)));
  checks.push(await attempt('import dir', ExitCode.USAGE, async () => checkImportDir(c)));
  checks.push(await attempt('etcd', ExitCode.REGISTRY, () => checkRegistry(rt, c)));
  return checks;
}

function checkConfig(rt: Runtime, found: (c: Config) => void): string {
  const cfg = rt.config; // throws on an unreadable or invalid file
  found(cfg);
  if (!cfg.operator) throw new SyncerError('USAGE', 'no operator set', { hint: 'syncer init, or syncer config set operator NAME' });
  return `${rt.configFile} (operator ${cfg.operator})`;
}

async function checkRepository(c: Config, repoGit: Git | undefined): Promise<string> {
  if (!c.repoPath) throw new SyncerError('USAGE', 'no repoPath set', { hint: 'syncer init --repo DIR' });
  if (!repoGit) throw new SyncerError('USAGE', `${c.repoPath} does not exist`, { hint: 'fix repoPath' });
  const top = await repoGit.topLevel();
  if (!top) throw new SyncerError('USAGE', `${c.repoPath} is not a git repository`, { hint: `git -C ${c.repoPath} init` });
  const [name, email] = await Promise.all([repoGit.configGet('user.name'), repoGit.configGet('user.email')]);
  if (!name || !email) {
    // The same exit code as the sync that would fail on it (4: a remote or git).
    throw new SyncerError('REMOTE', `git has no ${!name ? 'user.name' : 'user.email'} for commits in ${top}`, {
      hint: 'git config --global user.name "Your Name"; git config --global user.email you@example.org',
    });
  }
  return `${top} (branch ${(await repoGit.currentBranch()) ?? 'none: detached HEAD, sync needs a branch'}; commits as ${name} <${email}>)`;
}

async function checkRemote(c: Config, repoGit: Git | undefined): Promise<string> {
  if (!repoGit) throw new SyncerError('USAGE', 'no repository to read the remote from');
  const url = await repoGit.remoteUrl(c.remote);
  if (!url) throw new SyncerError('USAGE', `no remote "${c.remote}" in ${c.repoPath}`, { hint: `git -C ${c.repoPath} remote add ${c.remote} URL` });
  // What peers would clone from must be a transport they (and we) allow: say which key allows it.
  const advertised = publicRemoteUrl(c.remoteUrl ?? url);
  const usable = classifyRemote(advertised, { allowed: c.allowedTransports, local: { base: c.repoPath! } });
  if (!usable.ok) {
    throw new SyncerError('USAGE', `peers could not clone from ${redactUrl(advertised)}: ${usable.problem}`, {
      hint: usable.fix ?? 'set remoteUrl to the URL peers should clone from',
    });
  }
  await lsRemote(repoGit, c.remote, { only: 'heads', what: `git ls-remote ${c.remote}` }).catch((e) => {
    if (!(e instanceof SyncerError) || e.hint) throw e;
    throw new SyncerError(e.kind, e.message, {
      hint:
        `check that ${redactUrl(url)} exists and that you may read it (try: git -C ${c.repoPath} ls-remote ${c.remote}); ` +
        `fix it with git remote set-url ${c.remote} URL`,
      cause: e,
    });
  });
  return `${c.remote} = ${redactUrl(url)} is reachable`;
}

function checkImportDir(c: Config): string {
  if (!c.importDir) throw new SyncerError('USAGE', 'no importDir set', { hint: 'syncer config set importDir DIR' });
  if (!existsSync(c.importDir)) return `${c.importDir} (created on first retrieve)`;
  accessSync(c.importDir, constants.W_OK);
  return c.importDir;
}

async function checkRegistry(rt: Runtime, c: Config): Promise<string> {
  const registry = await rt.registry();
  const hubs = await registry.listHubs();
  if (c.operator) await registry.checkWritableOperator(c.operator);
  const where = c.etcd.hosts.length ? c.etcd.hosts.join(', ') : 'embedded local etcd (local-only: peers cannot see it)';
  return `${where}: ${hubs.length} hub(s) under ${c.etcd.namespace}${c.etcd.username ? ` as ${c.etcd.username}` : ''}${c.etcd.tls ? ' over TLS' : ''}`;
}

export async function run(rt: Runtime): Promise<void> {
  const checks = await doctor(rt);
  rt.out.result(checks, () =>
    checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(10)}  ${c.detail}${c.ok || !c.hint ? '' : `\n                  fix: ${c.hint}`}`).join('\n'),
  );
  const failed = checks.find((c) => !c.ok);
  if (failed)
    throw new SyncerError(
      failed.code === ExitCode.REGISTRY ? 'REGISTRY' : failed.code === ExitCode.REMOTE ? 'REMOTE' : 'USAGE',
      `doctor found ${checks.filter((c) => !c.ok).length} problem(s)`,
      { hint: failed.hint },
    );
}
