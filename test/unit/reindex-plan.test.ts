/**
 * reindex, the pure parts: reading what git hands over (cat-file --batch, tag objects, the operator
 * record), verifying a remote's tags, the remote list, and the plan with its batched transactions.
 */
import { describe, expect, it } from 'vitest';
import { serializeAdvertisement, type Advertisement } from '../../src/core/advertisement.js';
import { keys } from '../../src/core/keys.js';
import { signRecord, rotateRecord } from '../../src/core/operator-record.js';
import { advertisementSigningText, generateKeyPair, signText, type KeyPair } from '../../src/core/signing.js';
import { MAX_TXN_OPS, pack, planReindex, txnOf, type OperatorInput, type Snapshot, type Unit } from '../../src/commands/reindex/plan.js';
import { chooseTrust, parseCatFileBatch, parseRecordText, parseTagObject, tagRefId, verifyTags, type RawTag } from '../../src/commands/reindex/verify.js';
import { mergeExplicit, parseRegistered, parseRemoteFlags, parseRemotesFile, remotesToRead } from '../../src/commands/reindex/inputs.js';
import { SyncerError } from '../../src/errors.js';

const k = keys('syncer/');
const T = ['https', 'ssh', 'git', 'file'];
const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);

function ad(hub: string, date: string, operator: string, extra: Partial<Advertisement> = {}, key?: KeyPair): Advertisement {
  const unsigned: Advertisement = {
    schema: 1,
    hub,
    date,
    operator,
    remote: `file:///srv/${operator}.git`,
    branch: 'main',
    commit: C1,
    tag: `syncer/${hub}/${date}`,
    path: hub,
    files: 1,
    bytes: 2,
    message: `sync ${hub} ${date}`,
    syncedAt: `${date}T10:00:00.000Z`,
    runId: 'r1',
    ...extra,
  };
  delete unsigned.signature;
  return key ? { ...unsigned, signature: signText(advertisementSigningText(unsigned), key.privateKeyPem) } : unsigned;
}
const verified = (a: Advertisement) => ({ ad: a, value: serializeAdvertisement(a) });
const emptySnapshot = (): Snapshot => ({ datasets: new Map(), markers: new Map(), operators: new Map() });
const input = (operator: string, ads: Advertisement[], extra: Partial<OperatorInput> = {}): OperatorInput => ({
  operator,
  complete: true,
  ads: ads.map(verified),
  present: ads.map((a) => `${a.hub}/${a.date}`),
  ...extra,
});
const opsOf = (units: Unit[]) => txnOf(units).ops;

function tagObject(target: string, name: string, message: string, type = 'commit'): Buffer {
  return Buffer.from(`object ${target}\ntype ${type}\ntag ${name}\ntagger T <t@example.org> 1700000000 +0000\n\n${message}\n`);
}
function rawTag(a: Advertisement, target = a.commit, message = serializeAdvertisement(a)): RawTag {
  const body = tagObject(target, a.tag, message);
  return { ref: `refs/tags/${a.tag}`, id: 'f'.repeat(40), type: 'tag', size: body.length, body };
}

describe('reading git output', () => {
  it('parses cat-file --batch output by size, whatever the messages hold', () => {
    const one = Buffer.from('line 1\nline 2\n\nc1 tag 3\nfake header');
    const two = Buffer.from('x');
    const out = Buffer.concat([
      Buffer.from(`${'1'.repeat(40)} tag ${one.length}\n`),
      one,
      Buffer.from('\n'),
      Buffer.from(`${'2'.repeat(40)} missing\n`),
      Buffer.from(`${'3'.repeat(40)} blob 1\n`),
      two,
      Buffer.from('\n'),
    ]);
    const objects = parseCatFileBatch(out);
    expect([...objects.keys()]).toEqual(['1'.repeat(40), '3'.repeat(40)]);
    expect(objects.get('1'.repeat(40))!.body.equals(one)).toBe(true);
    expect(objects.get('3'.repeat(40))).toEqual({ type: 'blob', body: two });
    expect(() => parseCatFileBatch(Buffer.from(`${'1'.repeat(40)} tag 100\nshort`))).toThrow(/truncated/);
  });

  it('parses a tag object and cuts a PGP signature off the message', () => {
    const t = parseTagObject(tagObject(C1, 'syncer/w/2026-01-01', '{"a":1}\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----'));
    expect(t).toEqual({ object: C1, type: 'commit', tag: 'syncer/w/2026-01-01', message: '{"a":1}' });
    expect(parseTagObject(Buffer.from('garbage'))).toBeUndefined();
    expect(parseTagObject(Buffer.from(`object nothex\ntype commit\ntag x\n\nm`))).toBeUndefined();
  });

  it('names: only refs/tags/syncer/<hub>/<date>', () => {
    expect(tagRefId('refs/tags/syncer/weather/2026-11-01')).toEqual({ hub: 'weather', date: '2026-11-01' });
    for (const bad of [
      'refs/tags/syncer/weather',
      'refs/tags/syncer/Weather/2026-11-01',
      'refs/tags/syncer/w/2026-13-01',
      'refs/tags/syncer/w/2026-11-01/x',
      'refs/tags/other/w/2026-11-01',
    ]) {
      expect(tagRefId(bad)).toBeUndefined();
    }
  });

  it("the operator record: validated, must be the operator's, re-serialised as sync writes it", () => {
    const pair = generateKeyPair();
    const record = signRecord(
      { operator: 'lab-a', remote: 'file:///srv/a.git', publicKey: pair.publicKey, registeredAt: '2026-01-01T00:00:00.000Z' },
      pair.privateKeyPem,
    );
    const read = parseRecordText(`${JSON.stringify(record, null, 2)}\n`, 'lab-a');
    expect(read).toEqual({ ok: true, record, value: JSON.stringify(record) });
    expect(parseRecordText(JSON.stringify(record), 'lab-b')).toMatchObject({ ok: false, problem: expect.stringMatching(/not lab-b/) });
    expect(parseRecordText('{', 'lab-a')).toMatchObject({ ok: false, problem: expect.stringMatching(/not JSON/) });
    expect(parseRecordText(JSON.stringify({ ...record, extra: 1 }), 'lab-a')).toMatchObject({ ok: false });
  });
});

describe("verifying a remote's tags", () => {
  const pair = generateKeyPair();
  const record = signRecord(
    { operator: 'lab-a', remote: 'file:///srv/a.git', publicKey: pair.publicKey, registeredAt: '2026-01-01T00:00:00.000Z' },
    pair.privateKeyPem,
  );
  const trust = chooseTrust({ operator: 'lab-a', repoRecord: record, acceptKey: false });
  const run = (tags: RawTag[], allowUnsigned = false) => verifyTags({ operator: 'lab-a', tags, trust, allowUnsigned, transports: T });

  it('accepts a signed advertisement on its commit, value exactly as sync writes it', () => {
    expect(trust).toMatchObject({ ok: true, source: 'repository', pin: 'new', publicKey: pair.publicKey });
    const a = ad('weather', '2026-11-01', 'lab-a', {}, pair);
    const r = run([rawTag(a)]);
    expect(r.skipped).toEqual([]);
    expect(r.ads).toEqual([{ ad: a, value: serializeAdvertisement(a) }]);
    expect(r.present).toEqual(['weather/2026-11-01']);
  });

  it('skips, with a reason, everything that does not verify; every well-named tag is still "present"', () => {
    const good = ad('weather', '2026-11-01', 'lab-a', {}, pair);
    const forged = ad('weather', '2026-11-02', 'lab-a', {}, generateKeyPair());
    const moved = ad('weather', '2026-11-03', 'lab-a', {}, pair);
    const other = ad('weather', '2026-11-04', 'lab-b', {}, pair);
    const unsigned = ad('weather', '2026-11-05', 'lab-a');
    const tampered = { ...ad('weather', '2026-11-06', 'lab-a', {}, pair), files: 99 };
    const big: RawTag = { ref: 'refs/tags/syncer/weather/2026-11-07', id: 'e'.repeat(40), type: 'tag', size: 10_000_000 };
    const light: RawTag = { ref: 'refs/tags/syncer/weather/2026-11-08', id: C1, type: 'commit', size: 200 };
    const badName: RawTag = { ref: 'refs/tags/syncer/x', id: C1, type: 'tag', size: 10 };
    const onTree: RawTag = { ...rawTag(good), ref: 'refs/tags/syncer/weather/2026-11-09', body: tagObject(C1, 'x', '{}', 'tree') };
    const r = run([
      rawTag(forged),
      rawTag(moved, C2),
      { ...rawTag(other), ref: 'refs/tags/syncer/weather/2026-11-04' },
      rawTag(unsigned),
      rawTag(tampered),
      big,
      light,
      badName,
      onTree,
      rawTag(good),
    ]);
    expect(r.ads.map((x) => x.ad.date)).toEqual(['2026-11-01']);
    const reasons = Object.fromEntries(r.skipped.map((s) => [s.tag, s.reason]));
    expect(reasons['syncer/weather/2026-11-02']).toMatch(/bad signature/);
    expect(reasons['syncer/weather/2026-11-03']).toBe(`the tag points to ${C2.slice(0, 12)} but advertises ${C1.slice(0, 12)}`);
    expect(reasons['syncer/weather/2026-11-04']).toMatch(/field operator "lab-b" disagrees/);
    expect(reasons['syncer/weather/2026-11-05']).toMatch(/is not signed/);
    expect(reasons['syncer/weather/2026-11-06']).toMatch(/bad signature/);
    expect(reasons['syncer/weather/2026-11-07']).toMatch(/10000000 bytes/);
    expect(reasons['syncer/weather/2026-11-08']).toMatch(/lightweight/);
    expect(reasons['syncer/x']).toMatch(/not a syncer/);
    expect(reasons['syncer/weather/2026-11-09']).toMatch(/points to a tree/);
    expect(r.present).toHaveLength(9); // all but syncer/x
    expect(run([rawTag(unsigned)], true)).toMatchObject({ ads: [{ ad: unsigned }], unsigned: ['weather/2026-11-05/lab-a'], skipped: [] });
    // --allow-unsigned never lets a bad signature through.
    expect(run([rawTag(forged)], true).ads).toEqual([]);
  });

  it('without a usable record nothing signed verifies', () => {
    const a = ad('weather', '2026-11-01', 'lab-a', {}, pair);
    const none = chooseTrust({ operator: 'lab-a', acceptKey: false });
    expect(none).toMatchObject({ ok: false, problem: expect.stringMatching(/no operator record/) });
    const r = verifyTags({ operator: 'lab-a', tags: [rawTag(a)], trust: none, allowUnsigned: false, transports: T });
    expect(r.skipped[0]!.reason).toMatch(/cannot verify the signature: no operator record/);
  });

  it('trust: the pinned key decides; the registry record is a fallback; a signed rotation is followed', () => {
    const other = generateKeyPair();
    const otherRecord = signRecord({ ...record, publicKey: other.publicKey }, other.privateKeyPem);
    expect(chooseTrust({ operator: 'lab-a', repoRecord: otherRecord, pinned: pair.publicKey, acceptKey: false })).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/changed/),
    });
    expect(chooseTrust({ operator: 'lab-a', repoRecord: otherRecord, registryRecord: record, pinned: pair.publicKey, acceptKey: false })).toMatchObject({
      ok: true,
      source: 'registry',
      pin: 'pinned',
    });
    expect(chooseTrust({ operator: 'lab-a', repoRecord: otherRecord, pinned: pair.publicKey, acceptKey: true })).toMatchObject({ ok: true, pin: 'accepted' });
    const next = generateKeyPair();
    const rotated = rotateRecord(record, pair, next, new Date('2026-06-01T00:00:00Z'));
    const t = chooseTrust({ operator: 'lab-a', repoRecord: rotated, pinned: pair.publicKey, acceptKey: false });
    expect(t).toMatchObject({ ok: true, pin: 'rotated', publicKey: next.publicKey });
    // An advertisement the old key made before the rotation verifies when the rotation sealed it;
    // under a rotation without a seal (an older syncer's) it does not, whatever time it claims.
    const old = ad('weather', '2026-05-01', 'lab-a', {}, pair);
    const unsealed = verifyTags({ operator: 'lab-a', tags: [rawTag(old)], trust: t, allowUnsigned: false, transports: T });
    expect(unsealed.ads).toHaveLength(0);
    expect(unsealed.skipped[0]!.reason).toMatch(/whose rotation has no seal \(made by an older syncer\)/);
    const sealed = rotateRecord(record, pair, next, new Date('2026-06-01T00:00:00Z'), { sealed: { 'weather/2026-05-01': old.commit.slice(0, 20) } });
    const ts = chooseTrust({ operator: 'lab-a', repoRecord: sealed, pinned: pair.publicKey, acceptKey: false });
    expect(verifyTags({ operator: 'lab-a', tags: [rawTag(old)], trust: ts, allowUnsigned: false, transports: T }).ads).toHaveLength(1);
  });
});

describe('which remotes', () => {
  it('parses --remote and remotes files; bad values are usage errors (exit 2)', () => {
    expect(parseRemoteFlags(['lab-a=https://git.example.org/a.git?x=1'], T)).toEqual([
      { operator: 'lab-a', url: 'https://git.example.org/a.git?x=1', source: 'flag' },
    ]);
    for (const bad of ['lab-a', '=file:///x', 'Lab=file:///x', 'lab-a=ext::sh', 'lab-a=ftp://x/y', 'lab-a=http://x/y.git']) {
      try {
        parseRemoteFlags([bad], T);
        expect.unreachable(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(SyncerError);
        expect((e as SyncerError).exitCode).toBe(2);
      }
    }
    expect(parseRemotesFile('# list\n\nlab-a  file:///a.git\r\n  lab-b\tfile:///b.git  \n', 'f', T).map((t) => t.operator)).toEqual(['lab-a', 'lab-b']);
    expect(() => parseRemotesFile('lab-a file:///a.git\nlab-b file:///b.git extra\n', 'f', T)).toThrow(/f line 2/);
    expect(() => mergeExplicit(parseRemoteFlags(['lab-a=file:///a.git', 'lab-a=file:///b.git'], T))).toThrow(/two remotes/);
    expect(mergeExplicit(parseRemoteFlags(['lab-a=file:///a.git', 'lab-a=file:///a.git'], T))).toHaveLength(1);
    // Plain paths (the file transport) and scp-like remotes, as git and sync accept them.
    expect(parseRemoteFlags(['lab-a=/srv/a.git', 'lab-b=../b.git', 'lab-c=git@host:c.git'], T, '/work/x')).toEqual([
      { operator: 'lab-a', url: 'file:///srv/a.git', source: 'flag' },
      { operator: 'lab-b', url: 'file:///work/b.git', source: 'flag' },
      { operator: 'lab-c', url: 'git@host:c.git', source: 'flag' },
    ]);
    expect(parseRemotesFile('lab-a ../a.git\n', '/srv/lists/f', T)).toEqual([{ operator: 'lab-a', url: 'file:///srv/a.git', source: 'file' }]);
  });

  it('registered operators: explicit remotes win; bad records and refused URLs are skipped, never read', () => {
    const reg = (name: string, value: unknown) =>
      parseRegistered(`syncer/operators/${name}`, name, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));
    const rec = (operator: string, remote: string) => ({ operator, remote, registeredAt: '2026-01-01T00:00:00.000Z' });
    const registered = [
      reg('lab-a', rec('lab-a', 'file:///reg/a.git')),
      reg('lab-b', rec('lab-b', 'file:///reg/b.git')),
      reg('lab-c', rec('lab-c', 'ext::sh -c x')),
      reg('lab-d', '{'),
      reg('lab-e', rec('lab-x', 'file:///e.git')),
    ];
    const { targets, skipped } = remotesToRead(parseRemoteFlags(['lab-a=file:///mine/a.git'], T), registered, T);
    expect(targets).toEqual([
      { operator: 'lab-a', url: 'file:///mine/a.git', source: 'flag' },
      { operator: 'lab-b', url: 'file:///reg/b.git', source: 'registry' },
    ]);
    expect(skipped.map((s) => [s.operator, s.reason])).toEqual([
      ['lab-c', expect.stringMatching(/remote is refused/)],
      ['lab-d', expect.stringMatching(/not JSON/)],
      ['lab-e', expect.stringMatching(/another operator/)],
    ]);
  });
});

describe('the plan', () => {
  it('an empty registry: everything is added, with one marker per hub/date, records first', () => {
    const ads = [ad('weather', '2026-11-01', 'lab-a'), ad('weather', '2026-11-02', 'lab-a'), ad('soil', '2026-11-01', 'lab-a')];
    const adsB = [ad('weather', '2026-11-01', 'lab-b')];
    const plan = planReindex({
      keys: k,
      snapshot: emptySnapshot(),
      operators: [input('lab-a', ads, { record: '{"r":1}' }), input('lab-b', adsB)],
      prune: false,
      transports: T,
    });
    expect(plan.added.sort()).toEqual(['soil/2026-11-01/lab-a', 'weather/2026-11-01/lab-a', 'weather/2026-11-01/lab-b', 'weather/2026-11-02/lab-a']);
    expect(plan.records.added).toEqual(['lab-a']);
    expect(plan.markers.added.sort()).toEqual([
      'syncer/index/dates/soil/2026-11-01',
      'syncer/index/dates/weather/2026-11-01',
      'syncer/index/dates/weather/2026-11-02',
    ]);
    expect(plan.txns).toHaveLength(1);
    const txn = plan.txns[0]!;
    expect(txn.ops[0]).toEqual({ put: 'syncer/operators/lab-a', value: '{"r":1}' });
    // 1 record + 4 ads + 3 markers (weather/2026-11-01 once, though two ads need it).
    expect(txn.ops).toHaveLength(8);
    expect(txn.compares).toEqual(
      expect.arrayContaining([
        { key: 'syncer/datasets/weather/2026-11-01/lab-b', version: 0 },
        { key: 'syncer/operators/lab-a', version: 0 },
      ]),
    );
    expect(txn.ops).toContainEqual({ put: 'syncer/datasets/weather/2026-11-01/lab-a', value: serializeAdvertisement(ads[0]!) });
  });

  it('idempotent: the registry as reindex left it plans nothing', () => {
    const ads = [ad('weather', '2026-11-01', 'lab-a'), ad('soil', '2026-11-01', 'lab-a')];
    const snap = emptySnapshot();
    for (const a of ads) {
      snap.datasets.set(k.dataset(a), { value: serializeAdvertisement(a), modRevision: '5' });
      snap.markers.set(k.dateIndex(a.hub, a.date), '5');
    }
    snap.operators.set(k.operator('lab-a'), { value: '{"r":1}', modRevision: '3' });
    const plan = planReindex({ keys: k, snapshot: snap, operators: [input('lab-a', ads, { record: '{"r":1}' })], prune: true, transports: T });
    expect(plan).toMatchObject({ added: [], updated: [], unchanged: 2, stale: [], pruned: [], skipped: [], txns: [], records: { unchanged: ['lab-a'] } });
  });

  it('updates an older or broken entry (compare on its mod revision), never a newer one; a missing marker alone is restored', () => {
    const cur = ad('weather', '2026-11-01', 'lab-a');
    const older = { ...cur, syncedAt: '2026-11-01T08:00:00.000Z', commit: C2 };
    const newer = { ...ad('air', '2026-11-01', 'lab-a'), syncedAt: '2026-11-01T12:00:00.000Z', commit: C2 };
    const snap = emptySnapshot();
    snap.datasets.set(k.dataset(cur), { value: serializeAdvertisement(older), modRevision: '7' });
    snap.datasets.set('syncer/datasets/soil/2026-11-01/lab-a', { value: '{broken', modRevision: '8' });
    snap.datasets.set('syncer/datasets/air/2026-11-01/lab-a', { value: serializeAdvertisement(newer), modRevision: '9' });
    snap.markers.set(k.dateIndex('weather', '2026-11-01'), '7');
    const plan = planReindex({
      keys: k,
      snapshot: snap,
      prune: false,
      transports: T,
      operators: [input('lab-a', [cur, ad('soil', '2026-11-01', 'lab-a'), ad('air', '2026-11-01', 'lab-a')], { record: '{"new":1}' })],
    });
    expect(plan.updated.sort()).toEqual(['soil/2026-11-01/lab-a', 'weather/2026-11-01/lab-a']);
    expect(plan.skipped).toEqual([{ operator: 'lab-a', key: 'syncer/datasets/air/2026-11-01/lab-a', reason: expect.stringMatching(/newer advertisement/) }]);
    const units = plan.units;
    expect(units.find((u) => u.ids[0] === 'weather/2026-11-01/lab-a')).toMatchObject({
      kind: 'update',
      compares: [{ key: k.dataset(cur), modRevision: '7' }],
      markers: [],
    });
    expect(units.find((u) => u.ids[0] === 'soil/2026-11-01/lab-a')).toMatchObject({ markers: ['syncer/index/dates/soil/2026-11-01'] });
    // The skipped (newer) entry's marker was missing: restored on its own, without touching the entry.
    expect(units.find((u) => u.kind === 'marker')).toMatchObject({ compares: [], ops: [], markers: ['syncer/index/dates/air/2026-11-01'] });
    expect(opsOf(units).filter((o) => 'put' in o && o.put === 'syncer/datasets/air/2026-11-01/lab-a')).toEqual([]);
    expect(plan.records).toEqual({ added: ['lab-a'], unchanged: [], differs: [] });
    snap.operators.set(k.operator('lab-a'), { value: '{"old":1}', modRevision: '2' });
    expect(
      planReindex({ keys: k, snapshot: snap, prune: false, transports: T, operators: [input('lab-a', [], { record: '{"new":1}' })] }).records.differs,
    ).toEqual(['lab-a']);
  });

  it('stale: entries of completely read remotes without a tag; pruned only with --prune; the marker goes when nothing else stays', () => {
    const kept = ad('weather', '2026-11-01', 'lab-a');
    const snap = emptySnapshot();
    const put = (key: string, rev = '4') => snap.datasets.set(key, { value: '{}', modRevision: rev });
    put(k.dataset(kept));
    put('syncer/datasets/weather/2026-11-02/lab-a', '10'); // gone from git, alone on its date
    put('syncer/datasets/weather/2026-11-03/lab-a', '11'); // gone from git, lab-b still there
    put('syncer/datasets/weather/2026-11-03/lab-b');
    put('syncer/datasets/weather/2026-11-04/lab-a', '12'); // a tag that did not verify: present, not stale
    put('syncer/datasets/weather/2026-11-02/lab-c'); // lab-c's remote failed: never stale
    for (const d of ['01', '02', '03', '04']) snap.markers.set(`syncer/index/dates/weather/2026-11-${d}`, `2${d}`);
    const ops = [input('lab-a', [kept], { present: ['weather/2026-11-01', 'weather/2026-11-04'] }), input('lab-c', [], { complete: false })];

    const report = planReindex({ keys: k, snapshot: snap, operators: ops, prune: false, transports: T });
    expect(report.stale).toEqual([
      { hub: 'weather', date: '2026-11-02', operator: 'lab-a' },
      { hub: 'weather', date: '2026-11-03', operator: 'lab-a' },
    ]);
    expect(report.pruned).toEqual([]);
    expect(report.txns.flatMap((t) => t.ops).filter((o) => 'delete' in o)).toEqual([]);

    const plan = planReindex({ keys: k, snapshot: snap, operators: ops, prune: true, transports: T });
    expect(plan.pruned).toEqual(['weather/2026-11-02/lab-a', 'weather/2026-11-03/lab-a']);
    // lab-c still has weather/2026-11-02: its marker stays; so does 2026-11-03's (lab-b).
    expect(plan.markers.removed).toEqual([]);
    const deletes = plan.txns.flatMap((t) => t.ops).filter((o) => 'delete' in o);
    expect(deletes).toEqual([{ delete: 'syncer/datasets/weather/2026-11-02/lab-a' }, { delete: 'syncer/datasets/weather/2026-11-03/lab-a' }]);
    expect(plan.txns.flatMap((t) => t.compares)).toContainEqual({ key: 'syncer/datasets/weather/2026-11-02/lab-a', modRevision: '10' });

    snap.datasets.delete('syncer/datasets/weather/2026-11-02/lab-c');
    const alone = planReindex({ keys: k, snapshot: snap, operators: ops, prune: true, transports: T });
    expect(alone.markers.removed).toEqual(['syncer/index/dates/weather/2026-11-02']);
    const unit = alone.units.find((u) => u.kind === 'prune' && u.ids[0] === 'weather/2026-11-02/lab-a')!;
    expect(unit.ops).toEqual([{ delete: 'syncer/datasets/weather/2026-11-02/lab-a' }, { delete: 'syncer/index/dates/weather/2026-11-02' }]);
    expect(unit.compares).toContainEqual({ key: 'syncer/index/dates/weather/2026-11-02', modRevision: '202' });
  });

  it('a remote without any syncer tag (a wrong URL?) is never pruned, only reported', () => {
    const snap = emptySnapshot();
    snap.datasets.set('syncer/datasets/weather/2026-11-02/lab-a', { value: '{}', modRevision: '3' });
    const plan = planReindex({ keys: k, snapshot: snap, prune: true, transports: T, operators: [input('lab-a', [], { present: [] })] });
    expect(plan.stale).toHaveLength(1);
    expect(plan).toMatchObject({ pruned: [], txns: [], skipped: [{ operator: 'lab-a', reason: expect.stringMatching(/wrong URL/) }] });
  });

  it("a marker is not removed when another operator's advertisement is being added on that date", () => {
    const snap = emptySnapshot();
    snap.datasets.set('syncer/datasets/weather/2026-11-02/lab-a', { value: '{}', modRevision: '3' });
    snap.markers.set('syncer/index/dates/weather/2026-11-02', '3');
    const plan = planReindex({
      keys: k,
      snapshot: snap,
      prune: true,
      transports: T,
      operators: [input('lab-a', [], { present: ['weather/2026-11-01'] }), input('lab-b', [ad('weather', '2026-11-02', 'lab-b')])],
    });
    expect(plan.pruned).toEqual(['weather/2026-11-02/lab-a']);
    expect(plan.markers.removed).toEqual([]);
  });

  it('batches: every transaction has at most 128 operations and compares, an ad always with its marker', () => {
    const ads: Advertisement[] = [];
    for (let h = 0; h < 7; h++)
      for (let d = 1; d <= 28; d++) for (const op of ['lab-a', 'lab-b', 'lab-c']) ads.push(ad(`hub-${h}`, `2026-02-${String(d).padStart(2, '0')}`, op));
    const byOp = ['lab-a', 'lab-b', 'lab-c'].map((op) =>
      input(
        op,
        ads.filter((a) => a.operator === op),
        { record: `{"${op}":1}` },
      ),
    );
    const plan = planReindex({ keys: k, snapshot: emptySnapshot(), operators: byOp, prune: false, transports: T });
    expect(plan.added).toHaveLength(588);
    expect(plan.markers.added).toHaveLength(196);
    expect(plan.txns.length).toBeGreaterThanOrEqual(Math.ceil((588 + 196 + 3) / MAX_TXN_OPS));
    for (const t of plan.txns) {
      expect(t.ops.length).toBeLessThanOrEqual(MAX_TXN_OPS);
      expect(t.compares.length).toBeLessThanOrEqual(MAX_TXN_OPS);
      const keysInTxn = t.ops.map((o) => ('put' in o ? o.put : o.delete));
      expect(new Set(keysInTxn).size).toBe(keysInTxn.length); // etcd refuses a key twice in one txn
      for (const u of t.units) for (const m of u.markers) expect(keysInTxn).toContain(m);
    }
    // Every planned write is in exactly one transaction, markers possibly repeated across two.
    const puts = plan.txns.flatMap((t) => t.ops).filter((o) => 'put' in o && o.put.includes('/datasets/'));
    expect(puts).toHaveLength(588);
    const markerPuts = plan.txns.flatMap((t) => t.ops).filter((o) => 'put' in o && o.put.includes('/index/'));
    expect(markerPuts.length).toBeLessThan(196 + plan.txns.length);
  });

  it('batches by size too: large advertisements make smaller transactions', () => {
    const big = 'x'.repeat(4000);
    const units: Unit[] = Array.from({ length: 600 }, (_, i) => ({
      kind: 'add',
      ids: [`h/${i}`],
      compares: [{ key: `k${i}`, version: 0 }],
      ops: [{ put: `k${i}`, value: big }],
      markers: [],
    }));
    const txns = pack(units, 128, 1024 * 1024);
    for (const t of txns) {
      expect(t.ops.reduce((n, o) => n + ('put' in o ? o.value.length : 0), 0)).toBeLessThanOrEqual(1024 * 1024);
      expect(t.ops.length).toBeLessThanOrEqual(128);
    }
    expect(txns.flatMap((t) => t.units)).toHaveLength(600);
    expect(txns.length).toBeGreaterThanOrEqual(3);
    expect(pack(units.slice(0, 10), 4).map((t) => t.ops.length)).toEqual([4, 4, 2]);
  });
});
