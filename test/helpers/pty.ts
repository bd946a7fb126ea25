/**
 * Run the real `syncer` binary inside a pseudo-terminal, without native addons.
 *
 * A tiny inline python3 program (`pty.fork`) is the terminal: the child gets a new session whose
 * controlling terminal, stdin, stdout and stderr are the pty slave (sized ROWS x COLS), so
 * `isTTY` is true on every stream, Ctrl-C typed on the master becomes SIGINT for the foreground
 * process group (or a raw 0x03 byte while a prompt has the terminal in raw mode), and the relay
 * copies our pipe to the master and the master to our pipe. The command is exec'd directly (argv,
 * no shell), so arguments need no quoting. Python exits with the child's status (128+N for a signal).
 *
 * Everything the terminal received is kept raw; `output` is that transcript with ANSI sequences
 * stripped (for matching), and `screen()` replays it through a small terminal emulator (cursor
 * moves and erases, as @inquirer/prompts uses them) to show what a person would see now.
 * Every wait has a deadline and fails with the screen and the transcript instead of hanging.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { stripVTControlCharacters } from 'node:util';
import { faketimeEnv } from './faketime.js';
import { BIN, baseEnv } from './world.js';

export const keys = {
  enter: '\r',
  up: '\x1b[A',
  down: '\x1b[B',
  ctrlC: '\x03',
  backspace: '\x7f',
} as const;

const RELAY = String.raw`
import os, sys, pty, select, signal, struct, fcntl, termios, errno, time
rows, cols = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
pid, master = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    try:
        os.execvp(argv[0], argv)
    except Exception as e:
        os.write(2, ('pty relay: cannot exec %r: %s\n' % (argv[0], e)).encode())
        os._exit(127)
def release_faketime():
    # libfaketime leaves its semaphore and shared memory, named after the child's pid (faketime.ts).
    for name in ('/dev/shm/sem.faketime_sem_%d' % pid, '/dev/shm/faketime_shm_%d' % pid):
        try:
            os.unlink(name)
        except OSError:
            pass
def stop(signum, frame):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    release_faketime()
    os._exit(137)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGHUP, stop)
stdin_open = True
status = None
drain_deadline = None
def copy_out():
    try:
        data = os.read(master, 65536)
    except OSError as e:
        if e.errno == errno.EIO:
            return False
        raise
    if not data:
        return False
    os.write(1, data)
    return True
while True:
    fds = [master] + ([0] if stdin_open else [])
    ready, _, _ = select.select(fds, [], [], 0.05)
    if master in ready and not copy_out():
        break
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            os.write(master, data)
        else:
            stdin_open = False
    if status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            drain_deadline = time.monotonic() + 1.0
    elif time.monotonic() > drain_deadline and not ready:
        break
if status is None:
    _, status = os.waitpid(pid, 0)
release_faketime()
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

export interface PtyOptions {
  /** Extra environment (an operator's `op.env`); undefined values remove a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** A date/time for the whole process tree (libfaketime), as in world.ts `run`. */
  at?: string;
  rows?: number;
  cols?: number;
  /** Default deadline of waitFor/exit, ms. */
  timeoutMs?: number;
}

export interface PtyExit {
  code: number;
  /** The transcript, ANSI stripped. */
  output: string;
  /** What the terminal shows at the end. */
  screen: string;
}

export interface Pty {
  /** Keys to the terminal (see `keys`). */
  write(data: string): void;
  /**
   * Wait until the transcript, from where the previous wait matched on, matches `pattern`; return
   * the match. Fails (with the screen) on timeout or if the process ends first.
   */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Wait until `predicate(screen())` holds. */
  waitForScreen(predicate: (screen: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /**
   * In a select prompt: move the pointer (down arrow) to the first choice matching `pattern`, and
   * press Enter. Fails if the pointer comes back round without finding it.
   */
  choose(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The current screen, as a terminal would show it (trailing blanks trimmed). */
  screen(): string;
  /** The line the select pointer is on, if any. */
  pointerLine(): string | undefined;
  /** Everything so far, ANSI stripped, \r removed. */
  readonly output: string;
  readonly raw: string;
  /** Wait for the process to end (fails with the screen after the deadline, killing it). */
  exit(timeoutMs?: number): Promise<PtyExit>;
  /** Kill the process tree now (idempotent). */
  kill(): void;
  readonly exited: boolean;
}

const live = new Set<Pty>();
/** Kill every pty still running (for afterEach/afterAll). */
export function killAllPtys(): void {
  for (const t of live) t.kill();
}

export function startPty(args: string[], options: PtyOptions = {}): Pty {
  const rows = options.rows ?? 40;
  const cols = options.cols ?? 120;
  const defaultTimeout = options.timeoutMs ?? 20_000;
  const env = baseEnv({ ...options.env, TERM: 'xterm-256color', COLUMNS: undefined, LINES: undefined, NO_COLOR: undefined });
  // Interactive means: not CI, no --no-input from the environment.
  delete env.CI;
  delete env.SYNCER_NO_INPUT;
  let cmd = [process.execPath, BIN, ...args];
  // The clock is moved for syncer only (through `env`), not for the relay.
  if (options.at) {
    const fake = Object.entries(faketimeEnv(options.at));
    const unset = fake.filter(([, v]) => v === undefined).flatMap(([k]) => ['-u', k]);
    cmd = ['env', ...unset, ...fake.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`), ...cmd];
  }
  const child: ChildProcessWithoutNullStreams = spawn('python3', ['-c', RELAY, String(rows), String(cols), ...cmd], {
    env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const decoder = new StringDecoder('utf8');
  let raw = '';
  let relayErr = '';
  let consumed = 0; // index into `output` up to which waitFor has matched
  let exitCode: number | undefined;
  let spawnError: Error | undefined;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };

  child.stdout.on('data', (d: Buffer) => {
    raw += decoder.write(d);
    notify();
  });
  child.stderr.on('data', (d: Buffer) => (relayErr += d.toString()));
  child.stdin.on('error', () => undefined); // EPIPE after the child is gone
  child.on('error', (e) => {
    spawnError = e;
    exitCode ??= -1;
    notify();
  });
  const closed = new Promise<void>((resolve) =>
    child.on('close', (code, signal) => {
      raw += decoder.end();
      exitCode = code ?? (signal ? 128 + 9 : -1);
      live.delete(t);
      notify();
      resolve();
    }),
  );

  const text = () => stripVTControlCharacters(raw).replace(/\r/g, '');
  const describe = (why: string) =>
    `${why}\n--- screen (${cols}x${rows}) ---\n${t.screen()}\n--- end of screen ---` +
    `\n--- transcript after the last match ---\n${text().slice(consumed).slice(-4000)}\n--- end ---` +
    (exitCode !== undefined ? `\nprocess exited with ${exitCode}` : '') +
    (relayErr ? `\nrelay stderr: ${relayErr}` : '') +
    (spawnError ? `\nspawn error: ${spawnError.message}` : '');

  /** Resolve when check() returns a value; reject on timeout or exit. */
  // Checks before looking at the exit: output that arrived just before the exit still counts.
  const until = <T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        const v = check();
        if (v !== undefined) {
          cleanup();
          resolve(v);
        } else if (exitCode !== undefined) {
          cleanup();
          reject(new Error(describe(`the process ended while waiting for ${what}`)));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(describe(`timed out after ${timeoutMs} ms waiting for ${what}`)));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(attempt);
      };
      listeners.add(attempt);
      attempt();
    });

  const t: Pty = {
    write(data) {
      if (exitCode === undefined) child.stdin.write(data);
    },
    async waitFor(pattern, timeoutMs = defaultTimeout) {
      const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
      return until(
        () => {
          const all = text();
          const m = all.slice(consumed).match(re);
          if (!m) return undefined;
          consumed += (m.index ?? 0) + m[0].length;
          return m;
        },
        String(re),
        timeoutMs,
      );
    },
    waitForScreen(predicate, what, timeoutMs = defaultTimeout) {
      return until(
        () => {
          const s = t.screen();
          return predicate(s) ? s : undefined;
        },
        what,
        timeoutMs,
      );
    },
    async choose(pattern, timeoutMs = defaultTimeout) {
      const first = await t.waitForScreen(() => t.pointerLine() !== undefined, 'a select prompt', timeoutMs).then(() => t.pointerLine()!);
      let current = first;
      for (let i = 0; i < 100; i++) {
        if (pattern.test(current)) {
          t.write(keys.enter);
          return;
        }
        const before = current;
        t.write(keys.down);
        await t.waitForScreen(
          () => t.pointerLine() !== undefined && t.pointerLine() !== before,
          `the select pointer to move off "${before.trim()}"`,
          timeoutMs,
        );
        current = t.pointerLine()!;
        if (current === first) break;
      }
      throw new Error(describe(`no choice matching ${pattern} in the select prompt`));
    },
    screen() {
      return renderScreen(raw, cols, rows);
    },
    pointerLine() {
      const lines = t.screen().split('\n');
      // @inquirer/select marks the active choice with ❯ (or > where unicode is not supported).
      for (let i = lines.length - 1; i >= 0; i--) if (/^\s*[❯>] /.test(lines[i]!)) return lines[i];
      return undefined;
    },
    get output() {
      return text();
    },
    get raw() {
      return raw;
    },
    async exit(timeoutMs = defaultTimeout * 2) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
      const r = await Promise.race([closed, timedOut]);
      clearTimeout(timer);
      if (r === 'timeout') {
        const message = describe(`timed out after ${timeoutMs} ms waiting for the process to exit`);
        t.kill();
        throw new Error(message);
      }
      return { code: exitCode!, output: text(), screen: t.screen() };
    },
    kill() {
      if (exitCode === undefined && child.exitCode === null) child.kill('SIGTERM'); // the relay kills the child's process group
    },
    get exited() {
      return exitCode !== undefined;
    },
  };
  live.add(t);
  return t;
}

/**
 * A small terminal emulator: enough of VT100/xterm for what @inquirer/prompts and our messages
 * write (printable text, CR/LF/BS/TAB, CSI cursor moves, erase in line/display, save/restore).
 * Lines scroll into an unbounded history, so the result is the whole session as it stands now.
 */
export function renderScreen(raw: string, cols = 120, rows = 40): string {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  let saved = { row: 0, col: 0 };
  const line = (r: number) => {
    while (lines.length <= r) lines.push([]);
    return lines[r]!;
  };
  const top = () => Math.max(0, lines.length - rows);
  const put = (ch: string) => {
    if (col >= cols) {
      col = 0;
      row += 1;
    }
    const l = line(row);
    while (l.length < col) l.push(' ');
    l[col] = ch;
    col += 1;
  };
  const chars = Array.from(raw);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '\x1b') {
      const next = chars[i + 1];
      if (next === '[') {
        let j = i + 2;
        let params = '';
        while (j < chars.length && /[0-9;?<=>!]/.test(chars[j]!)) params += chars[j++];
        const final = chars[j];
        i = j;
        const nums = params
          .replace(/^[?<=>!]/, '')
          .split(';')
          .map((p) => (p === '' ? undefined : Number(p)));
        const n = nums[0] ?? 1;
        switch (final) {
          case 'A':
            row = Math.max(0, row - n);
            break;
          case 'B':
            row += n;
            line(row);
            break;
          case 'C':
            col = Math.min(cols - 1, col + n);
            break;
          case 'D':
            col = Math.max(0, col - n);
            break;
          case 'E':
            row += n;
            col = 0;
            line(row);
            break;
          case 'F':
            row = Math.max(0, row - n);
            col = 0;
            break;
          case 'G':
            col = Math.min(cols - 1, Math.max(0, n - 1));
            break;
          case 'H':
          case 'f':
            row = top() + Math.max(0, (nums[0] ?? 1) - 1);
            col = Math.max(0, (nums[1] ?? 1) - 1);
            line(row);
            break;
          case 'K': {
            const mode = nums[0] ?? 0;
            const l = line(row);
            if (mode === 0) l.length = Math.min(l.length, col);
            else if (mode === 1) for (let k = 0; k <= col && k < l.length; k++) l[k] = ' ';
            else l.length = 0;
            break;
          }
          case 'J': {
            const mode = nums[0] ?? 0;
            if (mode === 0) {
              line(row).length = Math.min(line(row).length, col);
              lines.length = row + 1;
            } else if (mode === 1) {
              for (let r = top(); r < row; r++) line(r).length = 0;
              for (let k = 0; k <= col && k < line(row).length; k++) line(row)[k] = ' ';
            } else {
              for (let r = top(); r < lines.length; r++) line(r).length = 0;
            }
            break;
          }
          case 's':
            saved = { row, col };
            break;
          case 'u':
            ({ row, col } = saved);
            break;
          default:
            break; // m (colours), h/l (modes), etc.
        }
      } else if (next === ']') {
        // OSC: up to BEL or ESC \
        let j = i + 2;
        while (j < chars.length && chars[j] !== '\x07' && !(chars[j] === '\x1b' && chars[j + 1] === '\\')) j++;
        i = chars[j] === '\x07' ? j : j + 1;
      } else if (next === '7') {
        saved = { row, col };
        i += 1;
      } else if (next === '8') {
        ({ row, col } = saved);
        i += 1;
      } else {
        i += 1; // other two-character escapes
      }
    } else if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row += 1;
      line(row);
    } else if (ch === '\b') col = Math.max(0, col - 1);
    else if (ch === '\t') col = Math.min(cols - 1, (Math.floor(col / 8) + 1) * 8);
    else if (ch === '\x07' || ch < ' ') continue;
    else put(ch);
  }
  return lines
    .map((l) => l.join('').replace(/\s+$/, ''))
    .join('\n')
    .replace(/\n+$/, '');
}
