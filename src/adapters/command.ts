/**
 * The commands users hand to syncer (`watch --exec -- CMD ARGS...`): run without a shell, with the
 * environment given (nothing inherited beyond it), stdin closed, stdout and stderr copied to
 * `output` as they come. Exit 127 for a command that cannot be found, as a shell says it.
 */
import type { Writable } from 'node:stream';

export async function runCommand(command: string[], options: { env: NodeJS.ProcessEnv; output: Writable }): Promise<{ code: number | null; signal?: string }> {
  const { execa } = await import('execa');
  const child = execa(command[0]!, command.slice(1), {
    env: options.env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  child.stdout?.pipe(options.output, { end: false });
  child.stderr?.pipe(options.output, { end: false });
  const res = await child;
  if ((res as { code?: string }).code === 'ENOENT') return { code: 127 };
  return { code: res.exitCode ?? null, signal: res.signal ?? undefined };
}
