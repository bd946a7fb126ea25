import { describe, expect, it } from 'vitest';
import { checkRemoteUrl, publicRemoteUrl, redactUrl } from '../../src/core/remote-url.js';

describe('remote URLs', () => {
  it.each(['https://github.com/a/b.git', 'ssh://git@host/a.git', 'git@github.com:a/b.git', 'git://host/a.git', 'file:///srv/a.git'])('allows %s', (u) =>
    expect(checkRemoteUrl(u).ok).toBe(true),
  );
  it.each(['ext::sh -c x', 'fd::3', '-oProxyCommand=x', 'http://host/a.git', 'ftp://host/a', '/srv/a.git', 'file://rel', 'https://host/a b'])('refuses %s', (u) =>
    expect(checkRemoteUrl(u).ok).toBe(false),
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
