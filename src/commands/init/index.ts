/**
 * syncer init: write the config after checking what can be checked (the repository, its remote,
 * etcd). Every value has a flag; prompts only on a TTY; existing values are kept as defaults.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { SyncerError, usageError } from '../../errors.js';
import { checkName } from '../../core/names.js';
import { parseList } from '../../config/resolve.js';
import { writeConfigFile } from '../../config/store.js';
import { ETCD_HOST, type FileConfig } from '../../config/schema.js';
import type { Runtime } from '../../runtime.js';
import { classifyRemote, publicRemoteUrl, redactUrl } from '../../core/remote-url.js';
import { planOperatorRecord } from '../../core/operator-record.js';
import { fingerprint, generateKeyPair } from '../../core/signing.js';

export interface InitOptions {
  operator?: string;
  repo?: string;
  remote?: string;
  remoteUrl?: string;
  importDir?: string;
  embedded?: boolean;
}

const validName = (v: string) => {
  try {
    checkName('operator', v);
    return true as const;
  } catch (e) {
    return (e as Error).message;
  }
};

/** Whether `dir` or one of its parents holds `.git` (a cheap check for the prompt; init checks with git after). */
function insideGitWorkTree(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return true;
    if (dirname(d) === d) return false;
  }
}

export async function init(rt: Runtime, options: InitOptions): Promise<FileConfig> {
  rt.createsConfig = true;
  const current = rt.fileConfig;
  const home = rt.env.HOME || homedir();
  if (options.embedded && rt.flags.etcdHosts) throw usageError('--embedded and --etcd-hosts exclude each other');

  const operator = checkName(
    'operator',
    await rt.need(options.operator ?? current.operator, '--operator', () => rt.prompter.input('Your operator name (lower case, e.g. your lab)', { validate: validName })),
  );
  // "~" as a shell would expand it (prompts get no shell, and scripts may quote it).
  const path = (p: string) => resolve(rt.deps.cwd, p.replace(/^~(?=$|\/)/, home));
  const repoPath = path(
    await rt.need(options.repo ?? current.repoPath, '--repo', () =>
      rt.prompter.input('Local git repository holding your data', {
        default: rt.deps.cwd,
        // Checked as you type, so a wrong answer does not cost the whole questionnaire.
        validate: (v) => (!existsSync(path(v)) ? `${path(v)} does not exist` : !insideGitWorkTree(path(v)) ? `${path(v)} is not in a git repository (git init it first)` : true),
      }),
    ),
  );
  const remote = options.remote ?? current.remote ?? 'origin';
  const importDir = path(
    options.importDir ??
      current.importDir ??
      (rt.canPrompt ? await rt.prompter.input('Where retrieved data goes', { default: join(home, 'syncer-data') }) : join(home, 'syncer-data')),
  );

  let hosts: string[] | undefined = options.embedded ? undefined : rt.flags.etcdHosts ? parseList(rt.flags.etcdHosts) : current.etcd?.hosts;
  if (!options.embedded && !rt.flags.etcdHosts && !current.etcd?.hosts && rt.canPrompt) {
    const shared = await rt.prompter.select<boolean>('Registry', [
      { name: 'embedded local etcd (try it out; peers will not see your data)', value: false },
      { name: 'a shared etcd cluster', value: true },
    ]);
    if (shared) {
      const answer = await rt.prompter.input('etcd endpoints (comma separated http(s)://host:port)', {
        validate: (v) => {
          const list = parseList(v);
          const bad = list.find((h) => !ETCD_HOST.test(h));
          return list.length === 0 ? 'give at least one endpoint' : bad ? `${bad}: expected http(s)://host:port, e.g. http://10.0.0.5:2379` : true;
        },
      });
      hosts = parseList(answer);
    }
  }

  // Check before writing.
  if (!existsSync(repoPath)) throw usageError(`repository ${repoPath} does not exist`, 'create it and run `git init` there, or pass --repo');
  const { git } = rt.git(repoPath);
  if (!(await git.topLevel())) throw usageError(`${repoPath} is not a git repository`, `run: git -C ${repoPath} init`);
  const url = options.remoteUrl ?? current.remoteUrl ?? (await git.remoteUrl(remote));
  if (!url) throw usageError(`the repository has no remote "${remote}"`, `add it: git -C ${repoPath} remote add ${remote} URL (or pass --remote NAME)`);

  const next: FileConfig = {
    ...current,
    operator,
    repoPath,
    remote,
    importDir,
    ...(options.remoteUrl ? { remoteUrl: options.remoteUrl } : {}),
    // --namespace (a global flag) is saved like --etcd-hosts: the next command uses the same registry.
    etcd: { ...current.etcd, hosts, ...(rt.flags.namespace !== undefined ? { namespace: rt.flags.namespace } : {}) },
  };
  if (!hosts) delete next.etcd!.hosts;
  if (Object.keys(next.etcd!).length === 0) delete next.etcd;

  // Whatever git accepts (URL, user@host:path, a local path); a refused transport names the key.
  const usable = classifyRemote(publicRemoteUrl(url), { allowed: rt.config.allowedTransports, local: { base: repoPath } });
  if (!usable.ok) {
    throw usageError(`peers could not clone from ${redactUrl(publicRemoteUrl(url))}: ${usable.problem} (config not written)`, usable.fix ? undefined : 'pass --remote-url with the URL peers should use');
  }
  const publicUrl = usable.url!;

  // etcd is checked with the config about to be written (flags and env still apply on top), and
  // our operator record (name, remote, public key) is registered: create-only, or signed update.
  // A new key is saved only once etcd answered and the name is free, just before the record that
  // holds its public half is written: a failed init leaves no key behind.
  const existingPair = rt.keystore.load(operator);
  const pair = existingPair ?? generateKeyPair();
  const checker = rt.withFileConfig(next, { etcdHosts: hosts?.join(',') });
  try {
    const registry = await checker.registry({ writes: true });
    const entry = await registry.getOperatorEntry(operator);
    const plan = planOperatorRecord(entry?.record, pair, operator, publicUrl, rt.now());
    if (!existingPair) {
      rt.keystore.save(operator, pair);
      rt.out.info(`made a signing key for ${operator} (${fingerprint(pair.publicKey)}) in ${rt.keystore.keyFile(operator)}: back it up`);
    }
    const written = plan.write ? await registry.putOperator(plan.record, entry?.modRevision).catch((e: unknown) => e) : true;
    if (written === false) throw new SyncerError('REGISTRY', `the operator record of ${operator} changed meanwhile`, { hint: 'run syncer init again' });
    // A read-only etcd user can still retrieve: register later, from a sync with write access.
    if (written instanceof SyncerError && /permission denied/.test(written.message)) {
      rt.out.warn(`could not register ${operator} in the registry (read-only etcd user?): retrieve works, sync needs write access`);
    } else if (written instanceof Error) throw written;
  } catch (e) {
    if (e instanceof SyncerError) throw new SyncerError(e.kind, `${e.message} (config not written)`, { hint: e.hint, cause: e });
    throw e;
  } finally {
    await checker.close();
  }
  await writeConfigFile(rt.configFile, next);
  return next;
}

export async function run(rt: Runtime, options: InitOptions): Promise<void> {
  const cfg = await init(rt, options);
  const envHosts = rt.env.SYNCER_ETCD_HOSTS && !rt.flags.etcdHosts && !options.embedded ? ` (SYNCER_ETCD_HOSTS=${rt.env.SYNCER_ETCD_HOSTS} overrides it while set)` : '';
  const registry = (cfg.etcd?.hosts?.join(', ') ?? 'embedded local etcd') + envHosts;
  rt.out.result({ configFile: rt.configFile, operator: cfg.operator, repoPath: cfg.repoPath, remote: cfg.remote, importDir: cfg.importDir, etcdHosts: cfg.etcd?.hosts ?? null }, () =>
    `wrote ${rt.configFile}\n  operator  ${cfg.operator}\n  repo      ${cfg.repoPath} (remote ${cfg.remote})\n  imports   ${cfg.importDir}\n  registry  ${registry}`,
  );
}
