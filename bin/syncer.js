#!/usr/bin/env node
// Entry point: wires the real process into main(). SIGINT/SIGTERM abort the running command,
// which cleans up and exits 130; a second signal exits at once.
import { main } from '../dist/main.js';

const controller = new AbortController();
let signals = 0;
const onSignal = () => {
  signals += 1;
  if (signals > 1) process.exit(130);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A reader that went away (`syncer ls --json | head -c 1`, `syncer watch | head -1`): stop as on a
// signal instead of crashing on an unhandled 'error' event. Later writes to stdout are dropped.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  controller.abort();
});

const code = await main(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  stdinIsTTY: !!process.stdin.isTTY,
  stdoutIsTTY: !!process.stdout.isTTY,
  stderrIsTTY: !!process.stderr.isTTY,
  now: () => new Date(),
  signal: controller.signal,
});
const exitCode = controller.signal.aborted && code !== 0 ? 130 : code;
// Exit as soon as our output is flushed: a gRPC channel still closing must not delay scripts.
let pending = 0;
const done = () => {
  if (--pending <= 0) process.exit(exitCode);
};
for (const stream of [process.stdout, process.stderr]) {
  if (stream.writableLength > 0 && !stream.destroyed) {
    pending += 1;
    stream.once('drain', done);
  }
}
if (pending === 0) process.exit(exitCode);
