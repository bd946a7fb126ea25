/**
 * The README's promises, checked:
 * - its two-operator quick start (the fenced block between `<!-- quickstart -->` markers) runs
 *   exactly as written with bash, in a temporary directory with its own HOME, on its own etcd
 *   (the snippet takes its directory and ports from variables a reader may set: Q, PORT,
 *   PEER_PORT), and lab-b ends up with lab-a's file at the advertised commit; then the clean-up
 *   block (`<!-- quickstart-cleanup -->`) stops that etcd and removes the directory;
 * - every relative link in README.md and docs/*.md points at a file that exists and, with a
 *   `#fragment`, at a heading of that file (GitHub's anchor rules).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/etcd.js';
import { BIN } from '../helpers/world.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = join(ROOT, 'README.md');

/** The body of the one fenced block between `<!-- NAME -->` and `<!-- /NAME -->`. */
export function markedBlock(markdown: string, name: string): string {
  const start = markdown.indexOf(`<!-- ${name} -->`);
  const end = markdown.indexOf(`<!-- /${name} -->`);
  if (start < 0 || end < 0 || end < start) throw new Error(`README.md has no <!-- ${name} --> ... <!-- /${name} --> block`);
  const between = markdown.slice(start, end);
  const m = between.match(/^```(?:sh|bash)\n([\s\S]*?)^```\s*$/m);
  if (!m) throw new Error(`no \`\`\`sh block between the ${name} markers`);
  return m[1]!;
}

/** GitHub's heading anchor: lower case, punctuation dropped (but - and _), spaces to hyphens. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links: their text
    .replace(/<[^>]+>/g, '') // inline html
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Lines outside fenced code blocks, with their line numbers. */
function proseLines(markdown: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((line, i) => {
    const m = line.match(/^\s*(```+|~~~+)/);
    if (m) {
      if (!fence) fence = m[1]![0];
      else if (m[1]![0] === fence) fence = undefined;
      return;
    }
    if (!fence) out.push({ line, n: i + 1 });
  });
  return out;
}

export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const set = new Set<string>();
  for (const { line } of proseLines(markdown)) {
    const h = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (h) {
      const base = slug(h[1]!);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      set.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) set.add(a[1]!);
  }
  return set;
}

/** Relative links `[text](target)` outside code (fenced blocks and inline `code`). */
export function relativeLinks(markdown: string): { target: string; n: number }[] {
  const links: { target: string; n: number }[] = [];
  for (const { line, n } of proseLines(markdown)) {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
      links.push({ target, n });
    }
  }
  return links;
}

function markdownFiles(): string[] {
  const docs = join(ROOT, 'docs');
  const files = [README];
  if (existsSync(docs)) for (const f of readdirSync(docs).sort()) if (f.endsWith('.md')) files.push(join(docs, f));
  return files;
}

describe('README links', () => {
  it('README.md links to the docs, and docs/ has the reference pages', () => {
    const readme = readFileSync(README, 'utf8');
    for (const page of ['commands', 'configuration', 'hosting', 'operations', 'how-it-works', 'scripting', 'development']) {
      expect(existsSync(join(ROOT, 'docs', `${page}.md`)), `docs/${page}.md`).toBe(true);
      expect(readme, `README.md links to docs/${page}.md`).toContain(`](docs/${page}.md`);
    }
  });

  it('every relative link in README.md and docs/*.md points at an existing file and heading', () => {
    const problems: string[] = [];
    const anchorCache = new Map<string, Set<string>>();
    const anchorsOf = (file: string) => {
      if (!anchorCache.has(file)) anchorCache.set(file, anchors(readFileSync(file, 'utf8')));
      return anchorCache.get(file)!;
    };
    let checked = 0;
    for (const file of markdownFiles()) {
      const where = relative(ROOT, file);
      for (const { target, n } of relativeLinks(readFileSync(file, 'utf8'))) {
        checked++;
        const [pathPart, fragment] = target.split('#', 2) as [string, string | undefined];
        const dest = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
        if (!existsSync(dest)) {
          problems.push(`${where}:${n}: ${target}: no such file ${relative(ROOT, dest)}`);
          continue;
        }
        if (fragment === undefined) continue;
        if (!statSync(dest).isFile() || !dest.endsWith('.md')) {
          problems.push(`${where}:${n}: ${target}: an anchor into a file that is not markdown`);
          continue;
        }
        if (!anchorsOf(dest).has(decodeURIComponent(fragment))) {
          problems.push(`${where}:${n}: ${target}: no heading #${fragment} in ${relative(ROOT, dest)}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });

  it('the anchor rules match GitHub on the headings the docs use', () => {
    expect(slug('`syncer init`')).toBe('syncer-init');
    expect(slug('Authentication (username/password)')).toBe('authentication-usernamepassword');
    expect(slug('Smart http(s) with `git http-backend`')).toBe('smart-https-with-git-http-backend');
    expect(slug('`--group NAME`: one leader acts')).toBe('--group-name-one-leader-acts');
    expect([...anchors('# A\n## B b\n```\n# not a heading\n```\n## B b\n')]).toEqual(['a', 'b-b', 'b-b-1']);
  });
});

describe('README quick start', () => {
  const root = mkdtempSync(join(tmpdir(), 'syncer-readme-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('runs exactly as written: lab-b retrieves the file lab-a published, at the advertised commit; the clean-up stops etcd', async () => {
    const readme = readFileSync(README, 'utf8');
    const quickstart = markedBlock(readme, 'quickstart');
    const cleanup = markedBlock(readme, 'quickstart-cleanup');

    // What a newcomer has after "Install": `syncer` (npm link) and `etcd`/`etcdctl` on PATH.
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'syncer'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`, { mode: 0o755 });
    if (process.env.SYNCER_ETCD_BIN) writeFileSync(join(bin, 'etcd'), `#!/bin/sh\nexec ${JSON.stringify(process.env.SYNCER_ETCD_BIN)} "$@"\n`, { mode: 0o755 });
    const home = join(root, 'home');
    mkdirSync(home);
    const q = join(root, 'try');
    const out = join(root, 'out');
    mkdirSync(out);
    const [port, peerPort] = [await freePort(), await freePort()];

    // The quick start with -e (any failing step fails the test), then what the test checks while
    // everything still exists, then the clean-up as a reader pastes it (an interactive shell: no -e).
    const script = [
      'set -euo pipefail',
      quickstart,
      '# ---- test: facts to check, kept outside $Q ----',
      'echo "$ETCD_PID" > "$OUT/etcd.pid"',
      'lab_b git -C "$(echo "$Q"/imports-b/weather/*/lab-a)" rev-parse HEAD > "$OUT/head"',
      'lab_b syncer --json ls weather latest > "$OUT/ls.json"',
      'set +e',
      cleanup,
    ].join('\n');
    writeFileSync(join(root, 'quickstart.sh'), script);

    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: home,
      LANG: 'C.UTF-8',
      Q: q,
      PORT: String(port),
      PEER_PORT: String(peerPort),
      OUT: out,
    };
    const child = spawn('bash', [join(root, 'quickstart.sh')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the script and the etcd it started, nothing else
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(killGroup, 150_000);
    const code = await new Promise<number>((r) => child.on('close', (c, signal) => r(c ?? (signal ? 137 : -1))));
    clearTimeout(timer);
    const pidFile = join(out, 'etcd.pid');
    const etcdPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (etcdPid && alive(etcdPid)) {
      killGroup();
      throw new Error(`the clean-up block left etcd (pid ${etcdPid}) running\n${stdout}\n${stderr}`);
    }

    const log = `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
    expect(code, log).toBe(0);
    // What the reader sees: the CSV lab-a published, printed by the last command.
    expect(stdout, log).toContain('station,time,temp_c\nzurich,2026-12-01T12:00Z,3.5\n');
    expect(stdout, log).toMatch(/advertisement created/);
    expect(stdout, log).toMatch(/^retrieved weather\/\d{4}-\d\d-\d\d from lab-a at [0-9a-f]{12}$/m);
    expect(stdout, log).toMatch(/^data: .*\/imports-b\/weather\/\d{4}-\d\d-\d\d\/lab-a\/weather$/m);
    // The checkout is at the commit the registry advertises.
    const listed = JSON.parse(readFileSync(join(out, 'ls.json'), 'utf8')) as { operator: string; commit: string }[];
    expect(listed.map((e) => e.operator)).toEqual(['lab-a']);
    expect(readFileSync(join(out, 'head'), 'utf8').trim()).toBe(listed[0]!.commit);
    // The clean-up removed everything the quick start made.
    expect(existsSync(q), `${q} still exists`).toBe(false);
  }, 180_000);
});
