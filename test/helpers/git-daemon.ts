/**
 * A real `git daemon` on 127.0.0.1 at a free port serving every bare repository under `baseDir`
 * (--export-all --base-path), pushes accepted (--enable=receive-pack) unless told otherwise.
 * `url('lab-a.git')` is git://127.0.0.1:PORT/lab-a.git.
 */
import { execFileSync } from 'node:child_process';
import { freePort, spawnServer, stopProcess, waitForPort } from './server-util.js';

export interface GitDaemon {
  port: number;
  baseDir: string;
  /** git://127.0.0.1:PORT/<name> */
  url(name: string): string;
  logs(): string;
  close(): Promise<void>;
}

export async function startGitDaemon(options: { baseDir: string; receivePack?: boolean }): Promise<GitDaemon> {
  try {
    execFileSync('git', ['daemon', '-h'], { stdio: 'ignore' });
  } catch (e) {
    // `git daemon -h` exits 129 after printing usage: only a missing program is a problem.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error('git is not installed: the hosting tests start a real git daemon (Debian: apt-get install -y git)');
  }
  const port = await freePort();
  const args = [
    'daemon',
    '--reuseaddr',
    '--verbose',
    '--export-all',
    `--base-path=${options.baseDir}`,
    `--port=${port}`,
    '--listen=127.0.0.1',
    ...(options.receivePack === false ? [] : ['--enable=receive-pack']),
    options.baseDir,
  ];
  const { proc, logs } = spawnServer('git', args);
  try {
    await waitForPort(port, proc, 'git daemon', logs);
  } catch (e) {
    await stopProcess(proc);
    throw e;
  }
  return {
    port,
    baseDir: options.baseDir,
    url: (name) => `git://127.0.0.1:${port}/${name.replace(/^\/+/, '')}`,
    logs,
    close: () => stopProcess(proc),
  };
}
