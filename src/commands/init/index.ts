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
import { planOperatorRecord, type RecordPlan } from '../../core/operator-record.js';
import { fingerprint, generateKeyPair, type KeyPair } from '../../core/signing.js';
import type { Registry } from '../../adapters/registry.js';

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

/** What init asked for, or took from the flags and the current config. */
interface Answers {
  operator: string;
  repoPath: string;
  remote: string;
  importDir: string;
  /** The etcd endpoints; undefined for the embedded etcd. */
  hosts: string[] | undefined;
}

export async function init(rt: Runtime, options: InitOptions): Promise<FileConfig> {
  rt.createsConfig = true;
  const current = rt.fileConfig;
  if (options.embedded && rt.flags.etcdHosts) throw usageError('--embedded and --etcd-hosts exclude each other');
  const answers = await ask(rt, options, current);
  const url = await checkRepository(rt, answers, options.remoteUrl ?? current.remoteUrl);
  const next = nextConfig(current, answers, options.remoteUrl, rt.flags.namespace);
  const publicUrl = urlForPeers(rt, url, answers.repoPath);
  await registerOperator(rt, next, answers, publicUrl);
  await writeConfigFile(rt.configFile, next);
  return next;
}

async function ask(rt: Runtime, options: InitOptions, current: FileConfig): Promise<Answers> {
  const home = rt.env.HOME || homedir();
  const operator = await askOperator(rt, options.operator ?? current.operator);
  const repoPath = await askRepoPath(rt, options.repo ?? current.repoPath, home);
  const remote = options.remote ?? current.remote ?? 'origin';
  const importDir = await askImportDir(rt, options.importDir ?? current.importDir, home);
  const hosts = await askHosts(rt, options, current);
  return { operator, repoPath, remote, importDir, hosts };
}

async function askOperator(rt: Runtime, given: string | undefined): Promise<string> {
  const answer = await rt.need(given, '--operator', () => rt.prompter.input('Your operator name (lower case, e.g. your lab)', { validate: validName }));
  return checkName('operator', answer);
}

/** `p` from the working directory, with "~" as a shell would expand it (prompts get no shell, and scripts may quote it). */
function absolute(rt: Runtime, home: string, p: string): string {
  return resolve(rt.deps.cwd, p.replace(/^~(?=$|\/)/, home));
}

async function askRepoPath(rt: Runtime, given: string | undefined, home: string): Promise<string> {
  const path = (p: string) => absolute(rt, home, p);
  const answer = await rt.need(given, '--repo', () =>
    rt.prompter.input('Local git repository holding your data', {
      default: rt.deps.cwd,
      // Checked as you type, so a wrong answer does not cost the whole questionnaire.
      validate: (v) => repositoryProblem(path(v)) ?? true,
    }),
  );
  return path(answer);
}

function repositoryProblem(dir: string): string | undefined {
  if (!existsSync(dir)) return `${dir} does not exist`;
  if (!insideGitWorkTree(dir)) return `${dir} is not in a git repository (git init it first)`;
  return undefined;
}

async function askImportDir(rt: Runtime, given: string | undefined, home: string): Promise<string> {
  const fallback = join(home, 'syncer-data');
  return absolute(rt, home, given ?? (rt.canPrompt ? await rt.prompter.input('Where retrieved data goes', { default: fallback }) : fallback));
}

/** Asked only when neither a flag nor the current config says; without a TTY the embedded etcd is the default. */
async function askHosts(rt: Runtime, options: InitOptions, current: FileConfig): Promise<string[] | undefined> {
  if (options.embedded) return undefined;
  if (rt.flags.etcdHosts) return parseList(rt.flags.etcdHosts);
  if (current.etcd?.hosts || !rt.canPrompt) return current.etcd?.hosts;
  const shared = await rt.prompter.select<boolean>('Registry', [
    { name: 'embedded local etcd (try it out; peers will not see your data)', value: false },
    { name: 'a shared etcd cluster', value: true },
  ]);
  if (!shared) return current.etcd?.hosts;
  return parseList(await rt.prompter.input('etcd endpoints (comma separated http(s)://host:port)', { validate: endpointsProblem }));
}

const endpointsProblem = (v: string): string | true => {
  const list = parseList(v);
  const bad = list.find((h) => !ETCD_HOST.test(h));
  return list.length === 0 ? 'give at least one endpoint' : bad ? `${bad}: expected http(s)://host:port, e.g. http://10.0.0.5:2379` : true;
};

/** The URL of the repository's remote. Checked before anything is written, so a mistake leaves nothing behind. */
async function checkRepository(rt: Runtime, { repoPath, remote }: Answers, givenUrl: string | undefined): Promise<string> {
  if (!existsSync(repoPath)) throw usageError(`repository ${repoPath} does not exist`, 'create it and run `git init` there, or pass --repo');
  const { git } = rt.git(repoPath);
  if (!(await git.topLevel())) throw usageError(`${repoPath} is not a git repository`, `run: git -C ${repoPath} init`);
  const url = givenUrl ?? (await git.remoteUrl(remote));
  if (!url) throw usageError(`the repository has no remote "${remote}"`, `add it: git -C ${repoPath} remote add ${remote} URL (or pass --remote NAME)`);
  return url;
}

function nextConfig(current: FileConfig, answers: Answers, remoteUrl: string | undefined, namespace: string | undefined): FileConfig {
  const { operator, repoPath, remote, importDir, hosts } = answers;
  const next: FileConfig = {
    ...current,
    operator,
    repoPath,
    remote,
    importDir,
    ...(remoteUrl ? { remoteUrl } : {}),
    // --namespace (a global flag) is saved like --etcd-hosts: the next command uses the same registry.
    etcd: { ...current.etcd, hosts, ...(namespace !== undefined ? { namespace } : {}) },
  };
  if (!hosts) delete next.etcd!.hosts;
  if (Object.keys(next.etcd!).length === 0) delete next.etcd;
  return next;
}

/** Whatever git accepts (URL, user@host:path, a local path); a refused transport names the key. */
function urlForPeers(rt: Runtime, url: string, repoPath: string): string {
  const usable = classifyRemote(publicRemoteUrl(url), { allowed: rt.config.allowedTransports, local: { base: repoPath } });
  if (!usable.ok) {
    throw usageError(
      `peers could not clone from ${redactUrl(publicRemoteUrl(url))}: ${usable.problem} (config not written)`,
      usable.fix ? undefined : 'pass --remote-url with the URL peers should use',
    );
  }
  return usable.url!;
}

/**
 * etcd is checked with the config about to be written (flags and env still apply on top), and our
 * operator record (name, remote, public key) is registered: create-only, or signed update. A new
 * key is saved only once etcd answered and the name is free, just before the record that holds
 * its public half is written: a failed init leaves no key behind.
 */
async function registerOperator(rt: Runtime, next: FileConfig, { operator, hosts }: Answers, publicUrl: string): Promise<void> {
  const existingPair = rt.keystore.load(operator);
  const pair = existingPair ?? generateKeyPair();
  const checker = rt.withFileConfig(next, { etcdHosts: hosts?.join(',') });
  try {
    const registry = await checker.registry({ writes: true });
    const entry = await registry.getOperatorEntry(operator);
    const plan = planOperatorRecord(entry?.record, pair, operator, publicUrl, rt.now());
    if (!existingPair) saveNewKey(rt, operator, pair);
    await writeRecord(rt, registry, operator, plan, entry?.modRevision);
  } catch (e) {
    if (e instanceof SyncerError) throw new SyncerError(e.kind, `${e.message} (config not written)`, { hint: e.hint, cause: e });
    throw e;
  } finally {
    await checker.close();
  }
}

function saveNewKey(rt: Runtime, operator: string, pair: KeyPair): void {
  rt.keystore.save(operator, pair);
  rt.out.info(`made a signing key for ${operator} (${fingerprint(pair.publicKey)}) in ${rt.keystore.keyFile(operator)}: back it up`);
}

async function writeRecord(rt: Runtime, registry: Registry, operator: string, plan: RecordPlan, modRevision: string | undefined): Promise<void> {
  const written = plan.write ? await registry.putOperator(plan.record, modRevision).catch((e: unknown) => e) : true;
  if (written === false) throw new SyncerError('REGISTRY', `the operator record of ${operator} changed meanwhile`, { hint: 'run syncer init again' });
  // A read-only etcd user can still retrieve: register later, from a sync with write access.
  if (written instanceof SyncerError && /permission denied/.test(written.message)) {
    rt.out.warn(`could not register ${operator} in the registry (read-only etcd user?): retrieve works, sync needs write access`);
  } else if (written instanceof Error) throw written;
}

export async function run(rt: Runtime, options: InitOptions): Promise<void> {
  const cfg = await init(rt, options);
  const overridden = rt.env.SYNCER_ETCD_HOSTS && !rt.flags.etcdHosts && !options.embedded;
  const envHosts = overridden ? ` (SYNCER_ETCD_HOSTS=${rt.env.SYNCER_ETCD_HOSTS} overrides it while set)` : '';
  const registry = (cfg.etcd?.hosts?.join(', ') ?? 'embedded local etcd') + envHosts;
  const summary = {
    configFile: rt.configFile,
    operator: cfg.operator,
    repoPath: cfg.repoPath,
    remote: cfg.remote,
    importDir: cfg.importDir,
    etcdHosts: cfg.etcd?.hosts ?? null,
  };
  rt.out.result(summary, () =>
    [
      `wrote ${rt.configFile}`,
      `  operator  ${cfg.operator}`,
      `  repo      ${cfg.repoPath} (remote ${cfg.remote})`,
      `  imports   ${cfg.importDir}`,
      `  registry  ${registry}`,
    ].join('\n'),
  );
}
