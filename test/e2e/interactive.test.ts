/**
 * Interactive mode through a real pseudo-terminal: the real binary, real prompts (@inquirer on
 * stderr), real keys (arrows, Enter, Ctrl-C), then a check of what really happened in git, the bare
 * remotes, etcd and the import directory. And the other side of the contract: without a TTY,
 * nothing waits for input that cannot come.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, baseEnv, git, World, type Operator } from '../helpers/world.js';
import { keys, killAllPtys, startPty } from '../helpers/pty.js';
import type { Advertisement } from '../../src/core/advertisement.js';

const utcToday = () => new Date().toISOString().slice(0, 10);
/** An older UTC date (three weeks back) for faketime runs, at noon so no time zone moves it. */
const olderDay = (() => {
  const d = new Date(Date.now() - 21 * 24 * 3600 * 1000);
  return d.toISOString().slice(0, 10);
})();
const olderAt = `${olderDay} 12:00:00`;

const worlds: World[] = [];
function newWorld(): World {
  const w = new World(inject('etcdHosts'));
  worlds.push(w);
  return w;
}

afterEach(() => killAllPtys());
afterAll(() => {
  killAllPtys();
  for (const w of worlds) w.cleanup();
});

/** Every path (files and directories) under dir, relative to it; [] if dir does not exist. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

function advertisement(world: World, hub: string, date: string, operator: string): Advertisement | undefined {
  const v = world.etcdGet(`datasets/${hub}/${date}/${operator}`)[`${world.namespace}datasets/${hub}/${date}/${operator}`];
  return v === undefined ? undefined : (JSON.parse(v) as Advertisement);
}

async function syncOk(op: Operator, args: string[], at?: string): Promise<void> {
  const r = await op.syncer(['sync', ...args], { at });
  expect(r.code, `sync ${args.join(' ')} as ${op.name}${at ? ` at ${at}` : ''}: ${r.stderr}`).toBe(0);
}

describe('interactive sync on a TTY', () => {
  it('offers the hubs found in the repo, shows a summary, confirms, then commits, tags, pushes and advertises', async () => {
    const world = newWorld();
    const alice = await world.operator('alice');
    // Two candidate hubs, so choosing `weather` takes a real arrow key (they are listed sorted).
    alice.write({ 'weather/obs.csv': 't,temp\n0,12.5\n1,13.0\n', 'weather/stations/s1.txt': 'station 1\n', 'air/pm25.csv': 't,pm\n0,7\n' });
    const dayBefore = utcToday();

    const t = startPty(['sync'], { env: alice.env });
    await t.waitFor(/Which hub is this data about\?/);
    const hubs = await t.waitForScreen((s) => /another hub/.test(s), 'the hub list');
    expect(hubs).toMatch(/^\s*[❯>] air$/m); // the first choice is active
    expect(hubs).toMatch(/^\s+weather$/m);
    await t.choose(/^\s*[❯>] weather$/);

    await t.waitFor(/Commit, push and advertise\?/);
    const summary = t.output;
    const date = summary.match(/date\s+(\d{4}-\d\d-\d\d) \(UTC\)/)?.[1];
    expect([dayBefore, utcToday()]).toContain(date);
    expect(summary).toMatch(/hub\s+weather\n/);
    expect(summary).toMatch(/path\s+weather\/\n/);
    expect(Number(summary.match(/changes\s+(\d+) file\(s\)/)?.[1])).toBeGreaterThanOrEqual(2); // the 2 data files (+ .syncer/operator.json, if counted)
    expect(summary).toContain(`remote    ${alice.remoteUrl} (branch main)`);
    // Nothing is written before the confirmation.
    expect(git(alice.repo, 'log', '--format=%s')).toBe('initial');
    expect(world.etcdGet('datasets/')).toEqual({});

    t.write('y');
    t.write(keys.enter);
    const { code, output } = await t.exit();
    expect(code, output).toBe(0);
    expect(output).toMatch(new RegExp(`committed and pushed weather/${date} as alice: [0-9a-f]{12}, 2 files`));

    // The commit: only the chosen hub (and the operator file), pushed to the bare remote.
    const commit = git(alice.repo, 'rev-parse', 'HEAD');
    expect(git(alice.repo, 'log', '-1', '--format=%s')).toBe(`sync weather ${date}`);
    expect(git(alice.repo, 'show', '--name-only', '--format=', 'HEAD').split('\n').sort()).toEqual([
      '.syncer/operator.json',
      'weather/obs.csv',
      'weather/stations/s1.txt',
    ]);
    expect(git(alice.repo, 'status', '--porcelain', '--', 'air')).toBe('?? air/');
    expect(git(alice.remoteDir, 'rev-parse', 'refs/heads/main')).toBe(commit);
    // The tag: annotated, on the commit, locally and on the remote, holding the advertisement.
    const tag = `syncer/weather/${date}`;
    expect(git(alice.repo, 'cat-file', '-t', `refs/tags/${tag}`)).toBe('tag');
    expect(git(alice.repo, 'rev-parse', `refs/tags/${tag}^{commit}`)).toBe(commit);
    expect(git(alice.remoteDir, 'rev-parse', `refs/tags/${tag}^{commit}`)).toBe(commit);
    expect(git(alice.remoteDir, 'cat-file', '-p', `refs/tags/${tag}`)).toContain(`"commit":"${commit}"`);
    // The advertisement, and nothing for the hub that was not chosen.
    const ad = advertisement(world, 'weather', date!, 'alice');
    expect(ad).toMatchObject({ hub: 'weather', date, operator: 'alice', commit, tag, remote: alice.remoteUrl, path: 'weather', files: 2 });
    expect(world.etcdGet('datasets/air/')).toEqual({});
    expect(world.etcdGet('inprogress/')).toEqual({});
  });

  it('Ctrl-C at the confirmation exits 130 and changes nothing: no commit, no tag, no push, no advertisement', async () => {
    const world = newWorld();
    const erin = await world.operator('erin');
    erin.write({ 'weather/obs.csv': 't,temp\n0,1\n' });
    const headBefore = git(erin.repo, 'rev-parse', 'HEAD');
    const statusBefore = git(erin.repo, 'status', '--porcelain', '--untracked-files=all');

    const t = startPty(['sync'], { env: erin.env });
    await t.waitFor(/Which hub is this data about\?/);
    await t.choose(/^\s*[❯>] weather$/);
    await t.waitFor(/Commit, push and advertise\?/);
    t.write(keys.ctrlC);
    const { code, output } = await t.exit();
    expect(code, output).toBe(130);
    expect(output).toMatch(/interrupted/);
    expect(output).not.toMatch(/unexpected error|at .*\.js:\d+/);

    expect(git(erin.repo, 'rev-parse', 'HEAD')).toBe(headBefore);
    // The working tree too: an interrupted sync writes nothing into the repository.
    expect(git(erin.repo, 'status', '--porcelain', '--untracked-files=all')).toBe(statusBefore);
    expect(git(erin.repo, 'tag', '--list')).toBe('');
    expect(git(erin.remoteDir, 'for-each-ref', '--format=%(refname)')).toBe('');
    // Only what `syncer init` registered (the operator record) is in the registry.
    expect(Object.keys(world.etcdGet(''))).toEqual([`${world.namespace}operators/erin`]);
  });
});

describe('interactive retrieve on a TTY', () => {
  let world: World;
  let bob: Operator;
  let carol: Operator;
  let today: string;

  beforeAll(async () => {
    world = newWorld();
    bob = await world.operator('bob');
    carol = await world.operator('carol');
    // An older date with two operators, today with one; and a second hub, so that every choice
    // (hub, date, operator) takes an arrow key.
    bob.write({ 'ocean/temp.csv': 'bob,old\n' });
    await syncOk(bob, ['--hub', 'ocean'], olderAt);
    carol.write({ 'ocean/temp.csv': 'carol,old\n', 'ocean/deep/salinity.csv': 'carol,35\n', 'air/pm.csv': 'carol,air\n' });
    await syncOk(carol, ['--hub', 'ocean'], olderAt);
    await syncOk(carol, ['--hub', 'air'], olderAt);
    bob.write({ 'ocean/temp.csv': 'bob,new\n' });
    const before = utcToday();
    await syncOk(bob, ['--hub', 'ocean']);
    today = Object.keys(world.etcdGet('datasets/ocean/'))
      .map((k) => k.split('/').at(-2)!)
      .find((d) => d !== olderDay)!;
    expect([before, utcToday()]).toContain(today);
    expect(today > olderDay).toBe(true);
  });

  it('hub, then dates newest first with operator counts, then operators with commit and time, then confirm; the checkout is real', async () => {
    const dave = await world.operator('dave');
    const carolAd = advertisement(world, 'ocean', olderDay, 'carol')!;
    const bobOldAd = advertisement(world, 'ocean', olderDay, 'bob')!;
    expect(carolAd.commit).not.toBe(bobOldAd.commit);

    const t = startPty(['retrieve'], { env: dave.env });
    await t.waitFor(/Which hub are you interested in\?/);
    const hubs = await t.waitForScreen((s) => /^\s+ocean$/m.test(s), 'the hub list');
    expect(hubs).toMatch(/^\s*[❯>] air$/m);
    await t.choose(/^\s*[❯>] ocean$/);

    await t.waitFor(/Datasets for ocean, newest first:/);
    const dates = await t.waitForScreen((s) => s.includes(olderDay) && s.includes(today), 'both dates');
    const datesSection = dates.slice(dates.lastIndexOf('Datasets for ocean, newest first:'));
    const newer = datesSection.indexOf(`${today}  (1 operator)`);
    const older = datesSection.indexOf(`${olderDay}  (2 operators)`);
    expect(newer, datesSection).toBeGreaterThan(0);
    expect(older, datesSection).toBeGreaterThan(newer);
    await t.choose(new RegExp(`^\\s*[❯>] ${olderDay}  \\(2 operators\\)$`));

    await t.waitFor(new RegExp(`Operators with ocean on ${olderDay}:`));
    const ops = await t.waitForScreen((s) => s.includes(carolAd.commit.slice(0, 12)) && s.includes(bobOldAd.commit.slice(0, 12)), 'both operators');
    const opsSection = ops.slice(ops.lastIndexOf(`Operators with ocean on ${olderDay}:`));
    expect(opsSection).toMatch(new RegExp(`bob  ${bobOldAd.commit.slice(0, 12)}  ${olderDay}T\\d\\d:\\d\\d:\\d\\d`));
    expect(opsSection).toMatch(new RegExp(`carol  ${carolAd.commit.slice(0, 12)}  ${olderDay}T\\d\\d:\\d\\d:\\d\\d`));
    await t.choose(/^\s*[❯>] carol /);

    const target = join(dave.importDir, 'ocean', olderDay, 'carol');
    await t.waitFor(/Retrieve it\?/);
    expect(t.output).toContain(`commit    ${carolAd.commit}`);
    expect(t.output).toContain(`into      ${target}`);
    expect(existsSync(target)).toBe(false); // nothing before the confirmation
    t.write(keys.enter); // default: yes
    const { code, output } = await t.exit();
    expect(code, output).toBe(0);
    expect(output).toContain(`retrieved ocean/${olderDay} from carol at ${carolAd.commit.slice(0, 12)}`);

    expect(readFileSync(join(target, 'ocean', 'temp.csv'), 'utf8')).toBe('carol,old\n');
    expect(readFileSync(join(target, 'ocean', 'deep', 'salinity.csv'), 'utf8')).toBe('carol,35\n');
    expect(existsSync(join(target, 'air'))).toBe(false); // sparse: the dataset path only
    expect(git(target, 'rev-parse', 'HEAD')).toBe(carolAd.commit);
    // Only the target under the import dir: no temp or aside directories left over beside it.
    expect(readdirSync(dave.importDir)).toEqual(['ocean']);
    expect(readdirSync(join(dave.importDir, 'ocean'))).toEqual([olderDay]);
    expect(readdirSync(join(dave.importDir, 'ocean', olderDay))).toEqual(['carol']);
  });

  it.each([
    ['the hub prompt', 0],
    ['the confirmation', 3],
  ])('Ctrl-C at %s exits 130 and leaves nothing behind', async (_where, answered) => {
    const frank = await world.operator(`frank${answered}`);
    const t = startPty(['retrieve'], { env: frank.env });
    const steps: [RegExp, RegExp][] = [
      [/Which hub are you interested in\?/, /^\s*[❯>] ocean$/],
      [/Datasets for ocean, newest first:/, new RegExp(`^\\s*[❯>] ${olderDay} `)],
      [new RegExp(`Operators with ocean on ${olderDay}:`), /^\s*[❯>] bob /],
    ];
    for (const [prompt, choice] of steps.slice(0, answered)) {
      await t.waitFor(prompt);
      await t.choose(choice);
    }
    await t.waitFor(answered === 0 ? /Which hub are you interested in\?/ : /Retrieve it\?/);
    t.write(keys.ctrlC);
    const { code, output } = await t.exit();
    expect(code, output).toBe(130);
    expect(output).toMatch(/interrupted/);
    expect(output).not.toMatch(/unexpected error|at .*\.js:\d+/);
    expect(existsSync(join(frank.importDir, 'ocean', olderDay, 'bob'))).toBe(false);
    expect(tree(frank.importDir)).toEqual([]);
  });

  it('without a TTY, a bare `syncer retrieve` exits 2 naming --hub and --date, and does not wait', async () => {
    const gina = await world.operator('gina');
    const r = await gina.syncer(['retrieve'], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--hub/);
    expect(r.stderr).toMatch(/--date/);
    expect(r.stdout).toBe('');
    expect(tree(gina.importDir)).toEqual([]);
  });

  it('without a TTY and with stdin open but silent, it still exits 2 at once (no prompt waits on the pipe)', async () => {
    const gina = await world.operator('gina2');
    const child = spawn(process.execPath, [BIN, 'retrieve'], { env: baseEnv(gina.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    clearTimeout(timer);
    child.stdin.destroy();
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(/--hub/);
    expect(stderr).toMatch(/--date/);
  });

  it('on a TTY with --no-input, a bare `syncer retrieve` exits 2 naming --hub and --date instead of prompting', async () => {
    const hal = await world.operator('hal');
    const t = startPty(['retrieve', '--no-input'], { env: hal.env });
    const { code, output } = await t.exit();
    expect(code, output).toBe(2);
    expect(output).toMatch(/--hub/);
    expect(output).toMatch(/--date/);
    expect(output).not.toMatch(/Which hub/);
  });
});

describe('interactive init on a TTY', () => {
  it('checks the repository and the etcd endpoints as they are typed, then writes the config', async () => {
    const world = newWorld();
    const ivan = await world.operator('ivan', { init: false });
    // Started outside any repository, so the default answer (the working directory) is refused.
    const t = startPty(['init'], { env: ivan.env, cwd: world.root });
    await t.waitFor(/Your operator name/);
    t.write(`ivan${keys.enter}`);
    await t.waitFor(/Local git repository holding your data/);
    t.write(keys.enter);
    await t.waitFor(/is not in a git repository/);
    t.write(ivan.repo + keys.enter);
    await t.waitFor(/Where retrieved data goes/);
    t.write(ivan.importDir + keys.enter);
    await t.waitFor(/Registry/);
    await t.choose(/^\s*[❯>] a shared etcd cluster/);
    await t.waitFor(/etcd endpoints/);
    t.write(`127.0.0.1:2379${keys.enter}`);
    await t.waitFor(/127\.0\.0\.1:2379: expected http\(s\):\/\/host:port/);
    t.write(keys.backspace.repeat(20) + world.etcdHosts + keys.enter);
    const { code, output } = await t.exit();
    expect(code, output).toBe(0);
    const cfg = JSON.parse(readFileSync(join(ivan.home, '.config/syncer/config.json'), 'utf8'));
    expect(cfg).toMatchObject({ operator: 'ivan', repoPath: ivan.repo, importDir: ivan.importDir, etcd: { hosts: [world.etcdHosts] } });
    expect(existsSync(join(ivan.home, '.config/syncer/keys/ivan.ed25519.pem'))).toBe(true);
  });
});
