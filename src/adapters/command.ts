/**
 * The commands users hand to syncer (`watch --exec -- CMD ARGS...`): run without a shell, with the
 * environment given (nothing inherited beyond it), stdin closed, stdout and stderr copied to
 * `output` as they come. node:child_process, not execa: its import cost ~240 ms.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

export function runCommand(command: string[], options: { env: NodeJS.ProcessEnv; output: Writable }): Promise<{ code: number | null; signal?: string }> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(options.output, { end: false });
    child.stderr.pipe(options.output, { end: false });
    // A command that cannot be started (not found, not executable) counts as 127, as in a shell.
    child.once('error', () => resolve({ code: 127 }));
    // 'close' waits for the output pipes too, so nothing the command printed is lost.
    child.once('close', (code, signal) => resolve({ code, signal: signal ?? undefined }));
  });
}
