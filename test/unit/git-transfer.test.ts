import { describe, expect, it } from 'vitest';
import { gitFailure, gitFailureHint } from '../../src/core/git-failure.js';
import { fallbackWarning, filterIgnored, formatBytes, dumbHttp, singleObjectsRefused } from '../../src/core/partial-fetch.js';
import { isProgressLine, parseProgress } from '../../src/adapters/git-process.js';
import { withProgress } from '../../src/adapters/git.js';
import { tcpQueues } from '../../src/adapters/transfer-activity.js';

describe("git's reason and the fix", () => {
  const hostKey = 'Host key verification failed.\r\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\n';
  it("keeps the cause ssh printed before git's generic fatal line", () => {
    expect(gitFailure(hostKey)).toBe('Host key verification failed.; fatal: Could not read from remote repository.');
    expect(gitFailure('git@127.0.0.1: Permission denied (publickey,password).\nfatal: Could not read from remote repository.')).toMatch(
      /^Permission denied \(publickey,password\)\.; fatal:/,
    );
  });
  it('keeps what a hook said', () => {
    const out = gitFailure(' ! [remote rejected] main -> main (pre-receive hook declined)\nremote: no data on Fridays\nerror: failed to push some refs to x');
    expect(out).toBe('error: failed to push some refs to x; [remote rejected] main -> main (pre-receive hook declined); remote said: no data on Fridays');
  });
  it('names the ssh-keyscan line with host and port', () => {
    expect(gitFailureHint(hostKey, 'ssh://git@127.0.0.1:2222/srv/a.git')).toMatch(/ssh-keyscan -p 2222 127\.0\.0\.1 >> ~\/\.ssh\/known_hosts/);
    expect(gitFailureHint(hostKey, 'git@host.example:a.git')).toMatch(/ssh-keyscan host\.example >>/);
  });
  it.each([
    ['git@h: Permission denied (publickey).', /authorized_keys/],
    ["fatal: unable to access 'https://h/a.git/': SSL certificate problem: unable to get local issuer certificate", /GIT_SSL_CAINFO/],
    ["fatal: could not read Username for 'http://h': terminal prompts disabled", /credential helper/],
    ["fatal: Authentication failed for 'http://h/a.git/'", /credential helper/],
    ["fatal: unable to access 'https://h/': Could not resolve host: h", /host name/],
  ])('%s', (stderr, hint) => expect(gitFailureHint(stderr)).toMatch(hint));
  it('has no hint for what it does not know', () => expect(gitFailureHint('fatal: bad object HEAD')).toBeUndefined());
});

describe('partial fetch fallback', () => {
  it("recognises git's words", () => {
    expect(filterIgnored('warning: filtering not recognized by server, ignoring')).toBe(true);
    expect(singleObjectsRefused('error: Server does not allow request for unadvertised object abc')).toBe(true);
    expect(singleObjectsRefused('fatal: remote error: upload-pack: not our ref abc')).toBe(true);
    expect(dumbHttp('fatal: dumb http transport does not support shallow capabilities')).toBe(true);
    expect(singleObjectsRefused('fatal: Could not read from remote repository.')).toBe(false);
  });
  it('says once why, how much, and the server setting', () => {
    const ssh = fallbackWarning('ssh://git@h/a.git', 'no-single-objects', 10_171_187);
    expect(ssh).toMatch(/could not serve a partial fetch .*downloaded the whole commit \(9\.7 MiB\)/);
    expect(ssh).toMatch(/AcceptEnv GIT_PROTOCOL/);
    expect(fallbackWarning('file:///srv/a.git', 'no-filter', 2048)).toMatch(/uploadpack\.allowFilter true/);
    expect(fallbackWarning('http://h/a.git', 'dumb-http', 1)).toMatch(/whole history \(1 bytes\).*git http-backend/);
  });
  it('formats sizes', () => {
    expect(formatBytes(0)).toBe('0 bytes');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(300 * 1024 * 1024)).toBe('300 MiB');
  });
});

describe('git progress', () => {
  it('is always asked for on transfers, before any --, without --quiet', () => {
    expect(withProgress(['-c', 'a=b', 'fetch', '--quiet', '--no-tags', 'origin', 'x'])).toEqual([
      '-c',
      'a=b',
      'fetch',
      '--progress',
      '--no-tags',
      'origin',
      'x',
    ]);
    expect(withProgress(['push', '--porcelain', '--', 'origin', 'main'])).toEqual(['push', '--progress', '--porcelain', '--', 'origin', 'main']);
    expect(withProgress(['ls-remote', '--heads', 'origin'])).toEqual(['ls-remote', '--heads', 'origin']);
  });
  it('parses the meter and keeps it out of messages', () => {
    expect(parseProgress('Receiving objects:  45% (2/6), 1.20 MiB | 64.00 KiB/s', 'fetch')).toEqual({
      method: 'fetch',
      stage: 'receiving',
      progress: 45,
      processed: 2,
      total: 6,
    });
    expect(isProgressLine('remote: Enumerating objects: 13, done.')).toBe(true);
    expect(isProgressLine('warning: filtering not recognized by server, ignoring')).toBe(false);
  });
});

describe('bytes moving on a socket', () => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:A000 0100007F:2328 01 00000000:00000000 00:00000000 00000000     0        0 111 1',
    '   1: 0100007F:2328 0100007F:A000 01 00000000:00004000 00:00000000 00000000     0        0 222 1',
    '   2: 0100007F:B000 0100007F:0050 01 00000010:00000000 00:00000000 00000000     0        0 333 1',
  ].join('\n');
  it("reads git's sockets and, where local, their peers' queues", () => {
    expect(tcpQueues([table], new Set(['111']))).toEqual(['111=00000000:00000000', '111>00000000:00004000']);
    expect(tcpQueues([table], new Set(['333']))).toEqual(['333=00000010:00000000']);
    expect(tcpQueues([table], new Set())).toEqual([]);
  });
});
