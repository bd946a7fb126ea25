/**
 * Read one operator's remote without cloning its data: in a temporary bare repository (removed
 * afterwards, also on error or interrupt), list the `syncer/*` tags, fetch the tag objects only
 * (`--filter=tree:0 --depth=1`: tags and their commits, no trees, no blobs), read every tag object
 * in one `git cat-file --batch`, and read `.syncer/operator.json` from the default branch
 * (`--filter=blob:none --depth=1`, then that one blob). Only the allowed transports, enforced by
 * git itself too. A remote that cannot be listed or fetched is a failed remote, never an exception.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasKind, SyncerError } from '../../errors.js';
import { redactUrl } from '../../core/remote-url.js';
import { protocolArgs, type Git } from '../../adapters/git.js';
import type { Runtime } from '../../runtime.js';
import { addRemote, initBare } from '../../adapters/git-repo.js';
import { listRefs, readBlobBounded, readObjectsBytes, resolveRev } from '../../adapters/git-objects.js';
import { fetchRefs, lsRemote } from '../../adapters/git-remote.js';
import type { RemoteTarget } from './inputs.js';
import { sealDigestsOf, sealFile } from './seals.js';
import { MAX_RECORD_BYTES, MAX_TAG_BYTES, parseCatFileBatch, parseTagObject, TAG_REF_PREFIX, type RawTag } from './verify.js';

export interface RemoteRead {
  target: RemoteTarget;
  /** The tags were listed and read completely. */
  ok: boolean;
  error?: string;
  tags: RawTag[];
  /**
   * `.syncer/operator.json` of the default branch, or why there is none; `seals`: digest -> text of
   * each `.syncer/seals/<digest>.json` its rotations name, from the same commit (those present).
   */
  record: { text?: string; problem?: string; seals?: Map<string, string> };
}

/** Temporary repositories still on disk: removed on exit too (a second Ctrl-C exits at once). */
const live = new Set<string>();
let exitHook = false;
function track(dir: string): void {
  live.add(dir);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      // A git killed by the same Ctrl-C may still be writing there: retry, and never crash on the way out.
      for (const d of live) {
        try {
          rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
        } catch {
          // left for the OS's temporary-file cleaning; the exit code already says what happened
        }
      }
    });
  }
}

async function listTags(git: Git): Promise<RawTag[]> {
  return (await listRefs(git, TAG_REF_PREFIX)).map(({ id, type, size, ref }) => ({ id, type, size, ref }));
}

/** Every annotated tag object (within the size limit) in one `git cat-file --batch`. */
export async function readTagObjects(rt: Runtime, dir: string, tags: RawTag[]): Promise<void> {
  const ids = [...new Set(tags.filter((t) => t.type === 'tag' && t.size <= MAX_TAG_BYTES).map((t) => t.id))];
  if (ids.length === 0) return;
  // The objects are local: never lazily fetch anything here.
  const out = await readObjectsBytes(rt.git(dir).git, ids);
  let objects: ReturnType<typeof parseCatFileBatch>;
  try {
    objects = parseCatFileBatch(out);
  } catch (e) {
    throw new SyncerError('REMOTE', `git cat-file --batch: ${(e as Error).message}`);
  }
  for (const t of tags) {
    const o = objects.get(t.id);
    if (o?.type === 'tag') t.body = o.body;
  }
}

async function readRecord(git: Git, proto: string[], shown: string): Promise<RemoteRead['record']> {
  try {
    const what = `git fetch of the default branch of ${shown}`;
    await fetchRefs(git, 'origin', ['+HEAD:refs/syncer/head'], { proto, what, noFetchHead: true, filter: 'blob:none', depth: 1 });
    const blob = await resolveRev(git, 'refs/syncer/head:.syncer/operator.json', proto);
    if (!blob) return { problem: 'no .syncer/operator.json on the default branch' };
    const { out, truncated } = await readBlobBounded(git, blob, MAX_RECORD_BYTES, 'reading .syncer/operator.json', proto);
    if (truncated) return { problem: `.syncer/operator.json is larger than ${MAX_RECORD_BYTES} bytes` };
    const text = out.toString('utf8');
    return { text, seals: await readSeals(git, 'refs/syncer/head', text, proto) };
  } catch (e) {
    // A remote nothing was pushed to yet (an operator who registered but never synced) has no HEAD.
    if (e instanceof SyncerError && /couldn't find remote ref HEAD/i.test(e.message)) return { problem: `${shown} is empty (nothing pushed yet)` };
    if (hasKind(e, 'REMOTE')) return { problem: e.message };
    throw e;
  }
}

async function recordFromNewestTag(git: Git, proto: string[], tags: RawTag[]): Promise<RemoteRead['record'] | undefined> {
  const newest = tags
    .map((t) => ({ date: t.ref.split('/').pop() ?? '', obj: t.body && parseTagObject(t.body) }))
    .filter((t) => t.obj && t.obj.type === 'commit')
    .sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0))[0];
  if (!newest?.obj) return undefined;
  // The tag fetch took no trees: git fetches this one tree path and blob lazily (same transports).
  const blob = await resolveRev(git, `${newest.obj.object}:.syncer/operator.json`, proto);
  if (!blob) return undefined;
  const { out, truncated } = await readBlobBounded(git, blob, MAX_RECORD_BYTES, 'reading .syncer/operator.json', proto);
  if (truncated) return undefined;
  const text = out.toString('utf8');
  return { text, seals: await readSeals(git, newest.obj.object, text, proto) };
}

/** A seal file larger than this is not read (about a million entries). */
const MAX_SEAL_BYTES = 64 * 1024 * 1024;

/** The `.syncer/seals/<digest>.json` files at `rev` that the record `text` names (fetched lazily: one blob each). */
async function readSeals(git: Git, rev: string, text: string, proto: string[]): Promise<Map<string, string>> {
  const seals = new Map<string, string>();
  for (const digest of sealDigestsOf(text)) {
    const blob = await resolveRev(git, `${rev}:${sealFile(digest)}`, proto);
    if (!blob) continue;
    const { out, truncated } = await readBlobBounded(git, blob, MAX_SEAL_BYTES, `reading ${sealFile(digest)}`, proto);
    if (!truncated) seals.set(digest, out.toString('utf8'));
  }
  return seals;
}

export async function readRemote(rt: Runtime, target: RemoteTarget): Promise<RemoteRead> {
  const proto = protocolArgs(rt.config.allowedTransports);
  const shown = redactUrl(target.url);
  const dir = mkdtempSync(join(tmpdir(), 'syncer-reindex-'));
  track(dir);
  try {
    const { git } = rt.git(dir);
    await initBare(git);
    await addRemote(git, 'origin', target.url);
    // Listing first: a fetch whose refspec matches nothing fails, and would look like an error.
    const listed = await lsRemote(git, 'origin', { proto, only: 'refs', patterns: [`${TAG_REF_PREFIX}*`], what: `git ls-remote of ${shown}` });
    // The record first: its commit then comes with its trees, and the tag fetch (no trees) after
    // it does not make reading the record fetch trees one by one.
    const record = await readRecord(git, proto, shown);
    let tags: RawTag[] = [];
    if (listed.trim() !== '') {
      const refspec = `+${TAG_REF_PREFIX}*:${TAG_REF_PREFIX}*`;
      await fetchRefs(git, 'origin', [refspec], { proto, what: `git fetch of the syncer tags of ${shown}`, noFetchHead: true, filter: 'tree:0', depth: 1 });
      tags = await listTags(git);
      await readTagObjects(rt, dir, tags);
    }
    // No record on the default branch (e.g. a bare remote whose HEAD names a branch nobody pushes):
    // take it from the newest tagged commit (sync commits it with the data).
    const fromTag = record.text === undefined ? await recordFromNewestTag(git, proto, tags) : undefined;
    return { target, ok: true, tags, record: fromTag ?? record };
  } catch (e) {
    if (hasKind(e, 'REMOTE')) return { target, ok: false, error: e.message, tags: [], record: {} };
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    live.delete(dir);
  }
}
