/**
 * Creating directories. Node 20's `mkdirSync(path, { recursive: true })` never returns under a
 * pseudo file system such as /proc (mkdir there answers ENOENT and Node retries forever, blocking
 * even SIGINT), so a mistyped `--into /proc/...` would hang the CLI. This walks up to the nearest
 * existing ancestor and creates the missing directories one by one, so every failure is an error.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Like `mkdirSync(path, { recursive: true, mode })`: returns the first directory created, if any. */
export function makeDirs(path: string, mode?: number): string | undefined {
  const missing: string[] = [];
  let dir = resolve(path);
  while (!existsSync(dir)) {
    missing.push(dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  if (missing.length === 0) {
    if (!statSync(dir).isDirectory()) throw fsError('EEXIST', dir);
    return undefined;
  }
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw fsError('ENOTDIR', missing.at(-1)!);
  missing.reverse();
  for (const d of missing) {
    try {
      mkdirSync(d, mode === undefined ? undefined : { mode });
    } catch (e) {
      // Made meanwhile by someone else (two syncer runs): fine if it is a directory.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw e;
    }
  }
  return missing[0];
}

function fsError(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: mkdir '${path}'`), { code, syscall: 'mkdir', path });
}
