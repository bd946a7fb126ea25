/**
 * The pure half of reading a remote: parse what git handed over (cat-file --batch output, tag
 * objects, `.syncer/operator.json`), decide whose key signs the operator's advertisements, and
 * verify each tag's advertisement. No I/O: everything here is untrusted input from a remote.
 */
import { isDate, isName } from '../../core/names.js';
import {
  MAX_ADVERTISEMENT_BYTES,
  MAX_RECORD_BYTES,
  operatorRecordSchema,
  parseAdvertisement,
  serializeAdvertisement,
  type Advertisement,
  type OperatorRecord,
} from '../../core/advertisement.js';
import { decideKey, signatureProblem, type PinState, type RetiredKey } from '../../core/trust.js';

export const TAG_REF_PREFIX = 'refs/tags/syncer/';
/** A tag object is its headers (< 1 KiB in practice) plus the advertisement (and maybe a signature). */
export const MAX_TAG_BYTES = MAX_ADVERTISEMENT_BYTES + 16 * 1024;
/** `.syncer/operator.json` larger than this is refused unread. */
export { MAX_RECORD_BYTES };

/** One `refs/tags/syncer/...` ref of a remote, with its tag object when it was read. */
export interface RawTag {
  ref: string;
  id: string;
  type: string;
  size: number;
  body?: Buffer;
}

/** Something read that is not (re)indexed, and why. `tag` for a remote's tag, `key` for a registry key. */
export interface Skip {
  operator?: string;
  tag?: string;
  key?: string;
  reason: string;
}

export interface VerifiedAd {
  ad: Advertisement;
  /** The registry value: exactly what `sync` writes (serializeAdvertisement). */
  value: string;
}

/** `refs/tags/syncer/<hub>/<date>` -> {hub, date}; undefined for any other name. */
export function tagRefId(ref: string): { hub: string; date: string } | undefined {
  if (!ref.startsWith(TAG_REF_PREFIX)) return undefined;
  const parts = ref.slice(TAG_REF_PREFIX.length).split('/');
  if (parts.length !== 2) return undefined;
  const [hub, date] = parts as [string, string];
  return isName(hub) && isDate(date) ? { hub, date } : undefined;
}

/**
 * `git cat-file --batch` output: `<id> <type> <size>\n<size bytes>\n` per object, or
 * `<id> missing\n`. Parsed by size (a message may hold anything, newlines included).
 */
export function parseCatFileBatch(out: Buffer): Map<string, { type: string; body: Buffer }> {
  const objects = new Map<string, { type: string; body: Buffer }>();
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(10, pos);
    if (nl < 0) throw new Error('truncated cat-file output (header)');
    const [id, type, sizeText] = out.toString('latin1', pos, nl).split(' ');
    if (type === 'missing' || type === 'ambiguous' || sizeText === undefined) {
      pos = nl + 1;
      continue;
    }
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size) || size < 0 || nl + 1 + size > out.length) throw new Error('truncated cat-file output (object)');
    objects.set(id!, { type: type!, body: out.subarray(nl + 1, nl + 1 + size) });
    pos = nl + 1 + size + 1;
  }
  return objects;
}

export interface TagObject {
  object: string;
  type: string;
  tag: string;
  message: string;
}

/** An annotated tag object: headers, blank line, message (a trailing PGP/SSH signature cut off). */
export function parseTagObject(body: Buffer): TagObject | undefined {
  const text = body.toString('utf8');
  const end = text.indexOf('\n\n');
  const head = (end < 0 ? text : text.slice(0, end)).split('\n');
  let message = end < 0 ? '' : text.slice(end + 2);
  const header = (name: string) => head.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1);
  const object = header('object');
  const type = header('type');
  const tag = header('tag');
  if (!object || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(object) || !type || tag === undefined) return undefined;
  const sig = message.search(/^-----BEGIN (PGP|SSH) SIGNATURE-----$/m);
  if (sig >= 0) message = message.slice(0, sig);
  return { object, type, tag, message: message.trim() };
}

export type RecordRead = { ok: true; record: OperatorRecord; value: string } | { ok: false; problem: string };

/** `.syncer/operator.json` of `operator`'s repository, validated; `value` is what sync puts in the registry. */
export function parseRecordText(text: string, operator: string): RecordRead {
  if (Buffer.byteLength(text) > MAX_RECORD_BYTES) return { ok: false, problem: `.syncer/operator.json is larger than ${MAX_RECORD_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: '.syncer/operator.json is not JSON' };
  }
  const parsed = operatorRecordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `.syncer/operator.json: field ${issue.path.join('.') || '(value)'}: ${issue.message}` };
  }
  if (parsed.data.operator !== operator) return { ok: false, problem: `.syncer/operator.json is the record of "${parsed.data.operator}", not ${operator}` };
  return { ok: true, record: parsed.data, value: JSON.stringify(parsed.data) };
}

export type Trust = { ok: true; publicKey: string; retired: RetiredKey[]; pin: PinState; source: 'repository' | 'registry' } | { ok: false; problem: string };

/**
 * Whose key signs this operator's advertisements: the record from the operator's repository (the
 * source of truth), else the registry's, each checked against the locally pinned key (decideKey).
 */
export function chooseTrust(input: {
  operator: string;
  repoRecord?: OperatorRecord;
  registryRecord?: OperatorRecord;
  pinned?: string;
  acceptKey: boolean;
}): Trust {
  const { operator, pinned, acceptKey } = input;
  let problem: string | undefined;
  for (const [record, source] of [
    [input.repoRecord, 'repository'],
    [input.registryRecord, 'registry'],
  ] as const) {
    if (!record) continue;
    const d = decideKey(operator, record, pinned, acceptKey);
    if (d.ok) return { ...d, source };
    problem ??= d.problem
      .replace('the registry record', `the ${source} record`)
      .replace('in the registry', `in the ${source} record`)
      .replace('registry has', `${source} record has`);
  }
  return { ok: false, problem: problem ?? `no operator record of ${operator} (neither .syncer/operator.json in its repository nor the registry)` };
}

export interface VerifyInput {
  operator: string;
  tags: RawTag[];
  trust: Trust;
  allowUnsigned: boolean;
  transports: readonly string[];
}

export interface VerifyResult {
  ads: VerifiedAd[];
  skipped: Skip[];
  /** `hub/date` of every well-named tag in the remote, verified or not (what prune must not touch). */
  present: string[];
  /** Advertisements accepted without a signature (--allow-unsigned). */
  unsigned: string[];
}

/** Check every tag of one operator's remote: name, type, advertisement, target commit, signature. */
export function verifyTags(input: VerifyInput): VerifyResult {
  const { operator, trust } = input;
  const out: VerifyResult = { ads: [], skipped: [], present: [], unsigned: [] };
  for (const t of input.tags) {
    const tag = t.ref.replace(/^refs\/tags\//, '');
    const skip = (reason: string) => out.skipped.push({ operator, tag, reason });
    const id = tagRefId(t.ref);
    if (!id) {
      skip('not a syncer/<hub>/<date> tag name');
      continue;
    }
    out.present.push(`${id.hub}/${id.date}`);
    if (t.type !== 'tag') {
      skip(`a lightweight tag (a ${t.type}), not an annotated tag holding an advertisement`);
      continue;
    }
    if (t.size > MAX_TAG_BYTES) {
      skip(`the tag object is ${t.size} bytes (limit ${MAX_TAG_BYTES})`);
      continue;
    }
    const obj = t.body && parseTagObject(t.body);
    if (!obj) {
      skip(t.body ? 'malformed tag object' : 'the tag object could not be read');
      continue;
    }
    if (obj.type !== 'commit') {
      skip(`the tag points to a ${obj.type}, not a commit`);
      continue;
    }
    const parsed = parseAdvertisement(obj.message, { expect: { ...id, operator }, transports: input.transports });
    if (!parsed.ok) {
      skip(`the tag's advertisement is refused: ${parsed.problem}`);
      continue;
    }
    const ad = parsed.ad;
    if (obj.object !== ad.commit) {
      skip(`the tag points to ${obj.object.slice(0, 12)} but advertises ${ad.commit.slice(0, 12)}`);
      continue;
    }
    if (!ad.signature && input.allowUnsigned) {
      out.unsigned.push(`${id.hub}/${id.date}/${operator}`);
    } else {
      const problem = trust.ok ? signatureProblem(ad, trust.publicKey, trust.retired) : `cannot verify the signature: ${trust.problem}`;
      if (problem) {
        skip(problem);
        continue;
      }
    }
    out.ads.push({ ad, value: serializeAdvertisement(ad) });
  }
  return out;
}
