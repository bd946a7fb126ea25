import { describe, expect, it } from 'vitest';
import { checkRemoteUrl, classifyRemote, effectiveTransports, publicRemoteUrl, redactUrl, transportFix } from '../../src/core/remote-url.js';

describe('remote URLs', () => {
  it.each(['https://github.com/a/b.git', 'ssh://git@host/a.git', 'git@github.com:a/b.git', 'git://host/a.git', 'file:///srv/a.git'])('allows %s', (u) =>
    expect(checkRemoteUrl(u).ok).toBe(true),
  );
  it.each(['ext::sh -c x', 'fd::3', '-oProxyCommand=x', 'http://host/a.git', 'ftp://host/a', '/srv/a.git', 'file://rel', 'https://host/a b'])(
    'refuses %s',
    (u) => expect(checkRemoteUrl(u).ok).toBe(false),
  );
  it('strips credentials before advertising', () => {
    expect(publicRemoteUrl('https://alice:s3cret@example.org/x.git')).toBe('https://example.org/x.git');
    expect(publicRemoteUrl('https://ghp_token@example.org/x.git')).toBe('https://example.org/x.git');
    expect(publicRemoteUrl('ssh://git:pw@host/x.git')).toBe('ssh://git@host/x.git');
    expect(publicRemoteUrl('/srv/x.git')).toBe('file:///srv/x.git');
    expect(publicRemoteUrl('git@host:x.git')).toBe('git@host:x.git');
    // Tokens in a query string or fragment are never advertised either.
    expect(publicRemoteUrl('https://bob:pw@example.org/x.git?token=abc')).toBe('https://example.org/x.git');
    expect(publicRemoteUrl('https://example.org/x.git?private_token=abc#frag')).toBe('https://example.org/x.git');
  });
  it('redacts for display', () => {
    expect(redactUrl('https://a:b@h/x')).toBe('https://***@h/x');
    expect(redactUrl('https://h/x.git?token=abc')).toBe('https://h/x.git?***');
  });
});

describe('classifyRemote: one decision for every command', () => {
  it('plain http is refused by default, naming the key that allows it', () => {
    const c = checkRemoteUrl('http://host/a.git');
    expect(c).toMatchObject({ ok: false, refusedTransport: 'http', fix: 'syncer config set allowedTransports http' });
    expect(c.problem).toBe('remote uses http://, which is not allowed: syncer config set allowedTransports http');
    expect(checkRemoteUrl('http://host/a.git', effectiveTransports(['http']))).toMatchObject({ ok: true, transport: 'http' });
    // https stays https (it used to be counted as http's family and refused with allowedTransports=http).
    expect(checkRemoteUrl('https://host/a.git', effectiveTransports(['http']))).toMatchObject({ ok: true, transport: 'https' });
  });
  it('allowedTransports adds to the defaults; an old list of the defaults is the same', () => {
    expect(effectiveTransports(['http']).sort()).toEqual(['file', 'git', 'http', 'https', 'ssh']);
    expect(effectiveTransports(['https', 'ssh', 'git', 'file'])).toEqual(effectiveTransports());
    expect(effectiveTransports([]).sort()).toEqual(['file', 'git', 'https', 'ssh']);
  });
  it('a remote the user gives may be a plain path (file transport) or scp-like', () => {
    const base = '/work/repo';
    expect(classifyRemote('/srv/a.git', { local: { base } })).toMatchObject({ ok: true, transport: 'file', url: 'file:///srv/a.git' });
    expect(classifyRemote('../remotes/a.git', { local: { base } })).toMatchObject({ ok: true, transport: 'file', url: 'file:///work/remotes/a.git' });
    expect(classifyRemote('git@host:lab/a.git', { local: { base } })).toMatchObject({ ok: true, transport: 'ssh', url: 'git@host:lab/a.git' });
    expect(classifyRemote('host:a.git', { local: { base } })).toMatchObject({ ok: true, transport: 'ssh' });
    expect(classifyRemote('file:///srv/a.git', { local: { base } })).toMatchObject({ ok: true, transport: 'file', url: 'file:///srv/a.git' });
    for (const bad of ['ext::sh -c x', 'fd::3', '-oProxyCommand=x', 'ftp://host/a']) expect(classifyRemote(bad, { local: { base } }).ok).toBe(false);
  });
  it('registry data stays strict: no bare paths, no helpers', () => {
    for (const bad of ['/srv/a.git', '../a.git', 'a.git', 'ext::sh -c x', 'fd::3', 'file://rel']) expect(checkRemoteUrl(bad).ok).toBe(false);
  });
  it('transportFix: only when every problem is a transport refusal', () => {
    const http = checkRemoteUrl('http://h/a.git').problem!;
    expect(transportFix([http, `x: ${http}`])).toBe('syncer config set allowedTransports http');
    expect(transportFix([http, 'bad signature'])).toBeUndefined();
    expect(transportFix([])).toBeUndefined();
  });
});
