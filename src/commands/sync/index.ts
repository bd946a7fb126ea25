/**
 * syncer sync: commit the dataset path (only it, only if it changed), tag it with the
 * advertisement, push branch and tag, then advertise. Nothing is advertised that was not pushed;
 * a failed push keeps the local commit, and a rerun pushes and advertises it without a new commit.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { hasKind, SyncerError, usageError, verifyError } from '../../errors.js';
import { checkDatasetPath, checkName, utcDate } from '../../core/names.js';
import { classifyRemote, publicRemoteUrl, redactUrl } from '../../core/remote-url.js';
import { operatorRecordSchema, type OperatorRecord } from '../../core/advertisement.js';
import { ownEntry } from './own-entry.js';
import { planOperatorRecord } from '../../core/operator-record.js';
import { fingerprint, type KeyPair } from '../../core/signing.js';
import type { Runtime } from '../../runtime.js';
import type { Git } from '../../adapters/git.js';
import { checkoutPlace, placeInRepository, type CheckoutPlace } from '../../adapters/git-repo.js';
import { listDataset, type DatasetListing } from '../../adapters/git-worktree.js';
import type { Registry } from '../../adapters/registry.js';
import { publish } from './publish.js';
import { datasetMeta } from './metadata.js';
import { resealOwnRecord } from './reseal.js';
import { withLock } from '../../adapters/locks.js';
import { defaultMessage, hubChoices, LARGE_FILE_BYTES, OPERATOR_FILE, type SyncPlan, type SyncResult } from './plan.js';
import { describeLinks, escapingLinks } from '../../core/dataset-contents.js';
import { escapeControl } from '../../core/sanitize.js';
import { envKnob } from '../../config/resolve.js';

export interface SyncOptions {
  hub?: string;
  path?: string;
  message?: string;
}

export type { SyncPlan, SyncResult } from './plan.js';

function requireConfig(rt: Runtime): { operator: string; repoPath: string } {
  const { operator, repoPath } = rt.config;
  if (!operator) throw usageError('no operator configured', 'run `syncer init`, or set SYNCER_OPERATOR');
  if (!repoPath) throw usageError('no repository configured', 'run `syncer init`, or set SYNCER_REPO');
  return { operator, repoPath };
}

async function chooseHub(rt: Runtime, repoPath: string): Promise<string> {
  const dirs = readdirSync(repoPath, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name);
  const registryHubs = (await (await rt.registry()).listHubs()).map((h) => h.hub);
  const choices = hubChoices(dirs, registryHubs);
  const NEW = '\u0000new';
  const picked = await rt.prompter.select<string>('Which hub is this data about?', [
    ...choices.map((h) => ({ name: h, value: h, description: dirs.includes(h) ? 'directory in your repository' : 'known in the registry' })),
    { name: 'another hub…', value: NEW },
  ]);
  if (picked !== NEW) return picked;
  return rt.prompter.input('Hub name', {
    validate: (v) => {
      try {
        checkName('hub', v);
        return true;
      } catch (e) {
        return (e as Error).message;
      }
    },
  });
}

/** Files that stay in git (under the LFS threshold) yet are over what forges take. */
function warnLargeFiles(rt: Runtime, repoPath: string, listing: DatasetListing, lfsThreshold: number): void {
  for (const file of listing.changed) {
    const size = followedSize(repoPath, file, listing);
    if (size !== undefined && size > LARGE_FILE_BYTES && size <= lfsThreshold) {
      rt.out.warn(
        `${file} is ${(size / 1024 / 1024).toFixed(0)} MB: most git forges reject files over 100 MB; ` +
          `lfsThresholdMiB is ${Math.round(lfsThreshold / 1024 / 1024)}, so it stays in git (lower it to store such files with git-lfs)`,
      );
    }
  }
}

/** Bytes of the regular file `file` is, links followed (the listing's lstat answers for all but links); undefined for anything else. */
function followedSize(repoPath: string, file: string, listing: DatasetListing): number | undefined {
  const known = listing.entries.get(file);
  if (known?.size !== undefined) return known.size;
  try {
    const st = statSync(join(repoPath, file));
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined; // deleted file
  }
}

async function advertisedRemote(rt: Runtime, git: Git): Promise<string> {
  const { remote, remoteUrl, allowedTransports } = rt.config;
  const url = remoteUrl ?? (await git.remoteUrl(remote));
  if (!url) throw usageError(`the repository has no remote "${remote}"`, `add one (git remote add ${remote} URL) or set remote in the config`);
  const pub = publicRemoteUrl(url);
  const check = classifyRemote(pub, { allowed: allowedTransports, local: { base: git.dir } });
  if (!check.ok)
    throw usageError(
      `the remote peers would clone from (${redactUrl(pub)}) is not usable: ${check.problem}`,
      check.fix ? undefined : 'set remoteUrl to the URL peers should clone from',
    );
  return check.url!;
}

/**
 * A dataset path (or one of its parent directories) that is a symbolic link would be committed as
 * a link (a 1-file dataset whose data is elsewhere, that no peer can read): refuse it, naming it.
 */
function refuseSymlink(top: string, path: string): void {
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = join(top, ...parts.slice(0, i));
    let target: string | undefined;
    try {
      if (lstatSync(p).isSymbolicLink()) target = readlinkSync(p);
    } catch {
      return; // absent: the caller says so
    }
    if (target !== undefined) {
      throw usageError(
        `${p} is a symbolic link (to ${target}): a dataset must be a real directory in the repository`,
        `replace the link with the directory itself (e.g. rm ${p} && cp -r ${target} ${p}), or pass --path to the real directory`,
      );
    }
  }
}

/**
 * Links in the dataset that lead out of it are published as links: peers get the link, never what
 * it points to, and refuse the dataset unless they pass --allow-symlinks. Say so before pushing.
 */
function warnEscapingLinks(rt: Runtime, path: string, listing: DatasetListing): void {
  const links = new Map<string, string>();
  for (const [rel, entry] of listing.entries) if (entry.link !== undefined) links.set(rel, entry.link);
  const escaping = escapingLinks(links, path);
  if (escaping.length === 0) return;
  const what =
    escaping.length === 1
      ? `${escapeControl(escaping[0]!.path)} is a symbolic link to ${escapeControl(escaping[0]!.target)}, out of ${path}/`
      : `${escaping.length} symbolic links lead out of ${path}/ (${describeLinks(escaping)})`;
  rt.out.warn(`${what}: only the link is published, not what it points to, and peers refuse the dataset unless they pass --allow-symlinks`);
}

/** The registry client: `writes` announces a local-only registry (sync's note), asked where it always was. */
type RegistryOf = (writes: boolean) => Promise<Registry>;

async function prepare(
  rt: Runtime,
  git: Git,
  place: CheckoutPlace | undefined,
  registry: RegistryOf,
  operator: string,
  options: SyncOptions,
): Promise<SyncPlan> {
  const { top, branch } = await checkoutOnBranch(git, place);
  const { hub, path } = await chooseDataset(rt, git, top, options);
  const meta = datasetMeta(top, path); // a bad datapackage.json is exit 2 before anything is asked or written
  const date = utcDate(rt.now());
  const { listing, remote, entry } = await readInputs(rt, git, registry, { top, path, hub, date, operator });
  const pair = signingKey(rt, operator, entry?.record);
  const operatorFile = planOperatorFile(rt, top, operator, pair, remote, await resealOwnRecord(rt, git, top, operator, pair, entry));
  warnLargeFiles(rt, top, listing, (await import('../../adapters/lfs.js')).lfsThresholdBytes(rt));
  const message = options.message ?? defaultMessage(hub, date);
  return { top, branch, hub, date, operator, path, message, remote, changed: listing.changed, listing, pair, operatorFile, meta };
}

/** A promise awaited later: its failure is not "unhandled" meanwhile. */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * The dataset's listing (the one walk of its directory: git status), the remote peers clone from
 * and the registry's word, asked at once: the walk runs while etcd answers. Each failure is still
 * said in the order the steps had one after another (walk, remote, registry), and the registry is
 * asked only of a usable remote. Asking it before touching git means an unreachable etcd, or a
 * user who may not write, stops us with nothing committed or pushed.
 */
async function readInputs(rt: Runtime, git: Git, registry: RegistryOf, d: { top: string; path: string; hub: string; date: string; operator: string }) {
  // The operator file's status comes with the dataset's (commitDataset asks it again only after rewriting it).
  const listed = later(listDataset(git, d.top, d.path, [OPERATOR_FILE]));
  const remote = await advertisedRemote(rt, git).catch(async (e) => {
    warnEscapingLinks(rt, d.path, await listed);
    throw e;
  });
  // The client is made now (rt.close then closes it whatever happens next); the note comes below.
  const checked = later(registry(false).then((reg) => checkRegistry(rt, reg, { hub: d.hub, date: d.date, operator: d.operator })));
  const listing = await listed;
  warnEscapingLinks(rt, d.path, listing);
  await registry(true);
  return { listing, remote, entry: await checked };
}

/** The checkout's top and branch: as read before the lock was taken, or read again after waiting for it. */
async function checkoutOnBranch(git: Git, place: CheckoutPlace | undefined): Promise<{ top: string; branch: string }> {
  const { top, branch } = place ?? (await placeInRepository(git));
  if (!top) throw usageError(`${git.dir} is not a git repository`, 'run `git init` there or fix repoPath');
  if (!branch) throw usageError(`${top} is not on a branch (detached HEAD)`, 'check out the branch to sync');
  return { top, branch };
}

/** The hub (asked for on a TTY) and its directory, which must hold something and not be a link (links in it: readInputs). */
async function chooseDataset(rt: Runtime, git: Git, top: string, options: SyncOptions): Promise<{ hub: string; path: string }> {
  const hub = checkName('hub', await rt.need(options.hub, '--hub', () => chooseHub(rt, top)));
  const path = checkDatasetPath(options.path ?? hub);
  if (!existsSync(join(top, path)) && !(await git.revParse(`HEAD:${path}`))) {
    throw usageError(`nothing at ${join(top, path)}`, 'put the dataset in that directory, or pass --path');
  }
  refuseSymlink(top, path);
  return { hub, path };
}

type OperatorEntry = Awaited<ReturnType<Registry['getOperatorEntry']>>;

/** May we write, and is the registry's entry for today not newer than this sync? The operator's registry entry. */
async function checkRegistry(rt: Runtime, reg: Registry, id: { hub: string; date: string; operator: string }): Promise<OperatorEntry> {
  // Three reads at once, their failures said in this order (the write check's first).
  const writable = later(reg.checkWritableDataset(id));
  const advertised = later(
    reg.getAdvertisement(id).catch((e) => {
      if (hasKind(e, 'VERIFY')) return undefined; // a broken entry of ours gets replaced
      throw e;
    }),
  );
  const operatorEntry = later(reg.getOperatorEntry(id.operator));
  await writable;
  const existing = await advertised;
  const entry = await operatorEntry;
  // Only our own signed entry can be newer than this sync (a clock ahead elsewhere); one that does
  // not verify with our keys is planted junk, and this sync replaces it.
  if (existing && Date.parse(existing.syncedAt) > rt.now().getTime() && ownEntry(rt, id.operator, entry?.record)(existing)) {
    throw usageError(
      `the registry holds a newer advertisement for ${id.hub}/${id.date}/${id.operator} (synced at ${existing.syncedAt})`,
      "check this machine's clock; the newer entry is kept",
    );
  }
  return entry;
}

/** This machine's key for the operator, made on first use unless the registry already holds one. */
function signingKey(rt: Runtime, operator: string, registered: OperatorRecord | undefined): KeyPair {
  if (!rt.keystore.load(operator) && registered?.publicKey) {
    throw verifyError(
      `no signing key for ${operator} on this machine (${rt.keystore.keyFile(operator)}), and the registry holds one (${fingerprint(registered.publicKey)})`,
      'copy your key file from the machine that has it (syncer keys path), or pick another operator name',
    );
  }
  const { pair, created } = rt.keystore.loadOrCreate(operator);
  if (created) rt.out.info(`made a signing key for ${operator} (${fingerprint(pair.publicKey)}) in ${rt.keystore.keyFile(operator)}: back it up`);
  return pair;
}

function planOperatorFile(rt: Runtime, top: string, operator: string, pair: KeyPair, remote: string, entry: OperatorEntry): SyncPlan['operatorFile'] {
  const opPath = join(top, OPERATOR_FILE);
  const inRepo = existsSync(opPath) ? readFileSync(opPath, 'utf8') : undefined;
  // A registry that does not know us yet (a new namespace, a wiped registry) gets the record the
  // repository already holds, if it is ours: re-signing it would change registeredAt and make a
  // commit although the dataset did not change.
  const fromRepo = entry?.record ? undefined : ownRecord(inRepo, operator, pair.publicKey);
  const recordPlan = planOperatorRecord(entry?.record ?? fromRepo, pair, operator, remote, rt.now());
  const record = recordPlan.record;
  const text = `${JSON.stringify(record, null, 2)}\n`;
  return { path: opPath, text, stale: inRepo !== text, record, registryWrite: recordPlan.write || !entry?.record, registryRevision: entry?.modRevision };
}

/** The operator record of `text` (the repository's copy) if it is this operator's, with this key. */
function ownRecord(text: string | undefined, operator: string, publicKey: string): OperatorRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = operatorRecordSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.operator === operator && parsed.data.publicKey === publicKey ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function sync(rt: Runtime, options: SyncOptions): Promise<SyncResult> {
  const { operator, repoPath } = requireConfig(rt);
  if (!existsSync(repoPath)) throw usageError(`repository ${repoPath} does not exist`, 'fix repoPath (syncer config set repoPath DIR)');
  const { git, done } = rt.git(repoPath, { progressLabel: 'push' });
  const place = await checkoutPlace(git);
  if (!place.gitDir) throw usageError(`${repoPath} is not a git repository`, 'run `git init` there or fix repoPath');
  // withLock says so (info) only when it has to wait: another sync ran meanwhile, and the branch
  // read above may be stale, so it is read again under the lock.
  let waited = false;
  const info = (m: string) => {
    waited = true;
    rt.out.info(m);
  };
  const lockIo = { info, warn: (m: string) => rt.out.warn(m), signal: rt.deps.signal };
  return withLock(join(place.gitDir, 'syncer.lock'), `sync of ${repoPath}`, lockIo, () =>
    syncLocked(rt, git, done, operator, options, place.gitDir!, waited ? undefined : place),
  );
}

async function syncLocked(
  rt: Runtime,
  git: Git,
  done: () => void,
  operator: string,
  options: SyncOptions,
  gitDir: string,
  place?: CheckoutPlace,
): Promise<SyncResult> {
  try {
    let plan: SyncPlan = { ...(await prepare(rt, git, place, (writes) => rt.registry({ writes }), operator, options)), gitDir };
    if (rt.canPrompt && !rt.flags.yes) {
      const { hub, date, path, changed, remote, branch } = plan;
      rt.out.info(
        `\n  hub       ${hub}\n  date      ${date} (UTC)\n  path      ${path}/\n` +
          `  changes   ${changed.length} file(s)${changed.length ? '' : ' (nothing to commit)'}\n  remote    ${redactUrl(remote)} (branch ${branch})\n`,
      );
      if (!(await rt.confirm('Commit, push and advertise?'))) throw new SyncerError('INTERRUPTED', 'cancelled; nothing was changed');
      // Files may have changed while the question was read: which go to git-lfs is decided on what is there now.
      plan = { ...plan, listing: await listDataset(git, plan.top, plan.path, [OPERATOR_FILE]) };
    }
    const registry = await rt.registry({ writes: false });
    const runId = randomUUID();
    const ttl = envKnob(rt.env, 'SYNCER_INPROGRESS_TTL'); // 2-3,600 s (exit 2), checked with the config
    const announcement = await registry.announce({ hub: plan.hub, date: plan.date, operator }, runId, rt.now(), ttl);
    try {
      return await publish(rt, git, registry, plan, runId);
    } finally {
      await announcement.release();
    }
  } finally {
    done();
  }
}

export async function run(rt: Runtime, options: SyncOptions): Promise<void> {
  const r = await sync(rt, options);
  rt.out.result(
    r,
    () =>
      `${r.committed ? 'committed and pushed' : 'pushed (no changes to commit)'} ${r.hub}/${r.date} as ${r.operator}: ` +
      `${r.commit.slice(0, 12)}, ${r.files} file${r.files === 1 ? '' : 's'}, ${r.bytes} bytes\nadvertisement ${r.advertised}`,
  );
}
