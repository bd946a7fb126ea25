/**
 * git's failure as a person reads it: git's own reason (which ssh, curl or the remote often print
 * before git's generic `fatal:` line) and, for the failures researchers meet when hosting for
 * real, the fix. Pure: the git runner feeds it stderr.
 */

/** The stderr lines that carry git's (or ssh's, curl's, the remote's) reason, in order. */
function meaningfulLines(stderr: string): string[] {
  return stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Lines printed before git's `fatal:` that say why: ssh and the remote speak first. */
const CAUSE = [
  /Host key verification failed/,
  /Permission denied \(/,
  /REMOTE HOST IDENTIFICATION HAS CHANGED/,
  /Connection (refused|timed out|closed)/i,
  /Could not resolve hostname/i,
  /No route to host/i,
];

/** git's reason: the `fatal:`/`error:` line, with the cause printed before it and what a remote or hook said. */
export function gitFailure(message: string): string {
  const lines = meaningfulLines(message);
  const fatal = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.find((l) => /rejected/.test(l)) ?? lines[0] ?? 'git failed';
  const causes = lines.filter((l) => CAUSE.some((re) => re.test(l)) && l !== fatal).map((l) => l.replace(/^(ssh: |[\w.-]+@[\w.-]+: )/, ''));
  // Why the remote refused: "[remote rejected] (pre-receive hook declined)" and what the hook said.
  const reasons = lines.filter((l) => /\[(remote )?rejected\]/.test(l)).map((l) => l.replace(/^.*?(\[(remote )?rejected\].*)$/, '$1'));
  const remote = lines
    .filter((l) => /^remote:\s*\S/.test(l))
    .map((l) => l.replace(/^remote:\s*/, ''))
    .slice(0, 3);
  const extra = [...new Set(reasons)].concat(remote.length ? [`remote said: ${remote.join(' / ')}`] : []);
  return [...new Set(causes), fatal, ...extra.filter((x) => x !== fatal)].join('; ').slice(0, 600);
}

/** host and port of an ssh or scp-like URL, for the ssh-keyscan line. */
function sshHost(url: string | undefined): { host: string; port?: string } | undefined {
  if (!url) return undefined;
  const m = /^ssh:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?/.exec(url) ?? /^(?:[^@/:]*@)?([^:/]+):(?!\/\/)/.exec(url);
  return m ? { host: m[1]!, ...(m[2] ? { port: m[2] } : {}) } : undefined;
}

/** The fix for a failure researchers meet when hosting for real, or undefined. */
export function gitFailureHint(stderr: string, url?: string): string | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) {
    return (
      "the server's ssh host key changed: confirm the new key with the server's admin, then remove the old line from ~/.ssh/known_hosts " +
      '(ssh-keygen -R HOST)'
    );
  }
  if (/Host key verification failed/.test(stderr)) {
    const h = sshHost(url);
    const scan = h ? `ssh-keyscan ${h.port ? `-p ${h.port} ` : ''}${h.host} >> ~/.ssh/known_hosts` : 'ssh-keyscan HOST >> ~/.ssh/known_hosts';
    return (
      `ssh does not know the server's host key (nothing in ~/.ssh/known_hosts; syncer never asks): check its fingerprint with the server's ` +
      `admin, then add it: ${scan} (or ssh once by hand)`
    );
  }
  if (/Permission denied \((publickey|password|keyboard)/.test(stderr)) {
    return (
      "the server did not accept your ssh key: add your public key to the server's ~/.ssh/authorized_keys, or use the key it knows (ssh-add, " +
      "IdentityFile in ~/.ssh/config, or GIT_SSH_COMMAND='ssh -i KEY')"
    );
  }
  if (/SSL certificate problem|server certificate verification failed|certificate verify failed|unable to get local issuer certificate/i.test(stderr)) {
    return (
      "git does not trust the server's certificate: point GIT_SSL_CAINFO at the CA's certificate file (or install the CA in the system's store: " +
      'update-ca-certificates)'
    );
  }
  if (/could not read (Username|Password)|terminal prompts disabled/i.test(stderr)) {
    return (
      'the server asks for credentials and syncer never prompts: store them with a git credential helper (git config --global credential.helper ' +
      'store, then one git fetch by hand), or use an ssh remote'
    );
  }
  if (/Authentication failed/i.test(stderr)) {
    return (
      'the server refused the credentials: update them in your git credential helper (git credential reject, then one git fetch by hand) or in ' +
      "the remote's URL"
    );
  }
  if (/Could not resolve host/i.test(stderr)) return "check the remote's host name (and your network or DNS)";
  if (/Connection refused/i.test(stderr)) return 'nothing listens at that host and port: check the URL and that the server is running';
  return undefined;
}

/**
 * What a network git may receive before the pack begins (the remote's refs, the negotiation, the
 * remote's messages) and for how long: an honest remote sends a few KiB to a few MiB there (syncer
 * asks for single refs; a v0 remote lists all of its refs, ~150 bytes per annotated tag) and then
 * data, so a remote that keeps listing refs is cut off although bytes move (git's memory grows
 * about 3 bytes per byte of refs). SYNCER_GIT_HANDSHAKE_MIB and SYNCER_GIT_HANDSHAKE_TIMEOUT.
 */
export const HANDSHAKE_DEFAULTS = { mib: 64, seconds: 600 } as const;

/** Why git was stopped before the pack began: a reason for "<what> was stopped: ..." and its fix. */
export function handshakeFailure(cut: 'bytes' | 'time', limits: { maxBytes: number; maxMs: number }): { reason: string; hint: string } {
  if (cut === 'bytes') {
    const mib = Math.round((limits.maxBytes / 1048576) * 10) / 10;
    return {
      reason: `the remote sent over ${mib} MiB before any data (an endless list of refs or messages)`,
      hint:
        `an honest remote sends a few MiB at most before its data: this one is broken or hostile; a remote that really lists that many refs ` +
        `needs SYNCER_GIT_HANDSHAKE_MIB raised (default ${HANDSHAKE_DEFAULTS.mib})`,
    };
  }
  return {
    reason: `the remote sent no data in ${Math.round(limits.maxMs / 1000)} s, only refs or messages`,
    hint:
      `an honest remote starts sending data within minutes: this one is broken or hostile; a remote that really takes that long to prepare ` +
      `its answer needs SYNCER_GIT_HANDSHAKE_TIMEOUT raised (seconds, default ${HANDSHAKE_DEFAULTS.seconds})`,
  };
}
