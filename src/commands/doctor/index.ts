/** syncer doctor: check git, config, repository, remote and etcd, and say what to fix. */
import { existsSync, accessSync, constants } from 'node:fs';
import { SyncerError, ExitCode } from '../../errors.js';
import { redactUrl } from '../../core/remote-url.js';
import type { Runtime } from '../../runtime.js';

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
  const cfgCheck = await attempt('config', ExitCode.USAGE, async () => {
    const c = rt.config;
    if (!c.operator) throw new SyncerError('USAGE', 'no operator set', { hint: 'syncer init, or syncer config set operator NAME' });
    return `${rt.configFile} (operator ${c.operator})`;
  });
  checks.push(cfgCheck);
  const { git } = rt.git(rt.deps.cwd);
  checks.push(await attempt('git', ExitCode.GIT, async () => (await git.run(['--version'])).trim()));
  if (cfgCheck.ok || rt.config) {
    let cfg;
    try {
      cfg = rt.config;
    } catch {
      cfg = undefined;
    }
    if (cfg) {
      checks.push(
        await attempt('repository', ExitCode.USAGE, async () => {
          if (!cfg.repoPath) throw new SyncerError('USAGE', 'no repoPath set', { hint: 'syncer init --repo DIR' });
          if (!existsSync(cfg.repoPath)) throw new SyncerError('USAGE', `${cfg.repoPath} does not exist`, { hint: 'fix repoPath' });
          const top = await rt.git(cfg.repoPath).git.topLevel();
          if (!top) throw new SyncerError('USAGE', `${cfg.repoPath} is not a git repository`, { hint: `git -C ${cfg.repoPath} init` });
          const branch = await rt.git(cfg.repoPath).git.currentBranch();
          return `${top} (branch ${branch ?? 'detached HEAD!'})`;
        }),
      );
      checks.push(
        await attempt('remote', ExitCode.GIT, async () => {
          if (!cfg.repoPath || !existsSync(cfg.repoPath)) throw new SyncerError('USAGE', 'no repository to read the remote from');
          const repoGit = rt.git(cfg.repoPath).git;
          const url = await repoGit.remoteUrl(cfg.remote);
          if (!url) throw new SyncerError('USAGE', `no remote "${cfg.remote}" in ${cfg.repoPath}`, { hint: `git -C ${cfg.repoPath} remote add ${cfg.remote} URL` });
          await repoGit.run(['ls-remote', '--heads', '--', cfg.remote], { network: true, what: `git ls-remote ${cfg.remote}` });
          return `${cfg.remote} = ${redactUrl(url)} is reachable`;
        }),
      );
      checks.push(
        await attempt('import dir', ExitCode.USAGE, async () => {
          if (!cfg.importDir) throw new SyncerError('USAGE', 'no importDir set', { hint: 'syncer config set importDir DIR' });
          if (existsSync(cfg.importDir)) accessSync(cfg.importDir, constants.W_OK);
          return `${cfg.importDir}${existsSync(cfg.importDir) ? '' : ' (created on first retrieve)'}`;
        }),
      );
      checks.push(
        await attempt('etcd', ExitCode.REGISTRY, async () => {
          const registry = await rt.registry();
          const hubs = await registry.listHubs();
          const where = cfg.etcd.hosts.length ? cfg.etcd.hosts.join(', ') : 'embedded local etcd (peers cannot see it)';
          return `${where}: ${hubs.length} hub(s) under ${cfg.etcd.namespace}${cfg.etcd.username ? ` as ${cfg.etcd.username}` : ''}${cfg.etcd.tls ? ' over TLS' : ''}`;
        }),
      );
    }
  }
  return checks;
}

export async function run(rt: Runtime): Promise<void> {
  const checks = await doctor(rt);
  rt.out.result(checks, () =>
    checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(10)}  ${c.detail}${c.ok || !c.hint ? '' : `\n                  fix: ${c.hint}`}`).join('\n'),
  );
  const failed = checks.find((c) => !c.ok);
  if (failed) throw new SyncerError(failed.code === ExitCode.REGISTRY ? 'REGISTRY' : failed.code === ExitCode.GIT ? 'GIT' : 'USAGE', `doctor found ${checks.filter((c) => !c.ok).length} problem(s)`, { hint: failed.hint });
}
