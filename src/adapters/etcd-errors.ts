/**
 * What a failed etcd request means, in words: every failure of the registry becomes a SyncerError
 * with exit 3 whose message names the cause (credentials, permission, each TLS problem with its
 * fix, an unreachable or leaderless cluster). The causes are read from etcd's own messages (its
 * HTTP API answers with the same texts as its gRPC API) and from Node's socket and TLS errors.
 */
import { SyncerError } from '../errors.js';

/** What the client was configured with, so that a failure can say which setting is wrong. */
export interface ErrorContext {
  username?: string;
  ca?: boolean;
  cert?: boolean;
}

/** A cause in words: the message, and how to fix it. */
interface Cause {
  message: string;
  hint: string;
}

export const firstLine = (s: string) => s.split('\n')[0]!.slice(0, 300);

/** The short reason inside a Node/OpenSSL TLS error ("unable to verify the first certificate", "sslv3 alert bad certificate"). */
function tlsDetail(msg: string): string {
  const line = firstLine(msg);
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(line);
  return (ssl ? ssl[1]! : line).trim();
}

const CA_HINT = 'set etcd.tls.ca (SYNCER_ETCD_TLS_CA) to the CA certificate that signed the etcd server certificate';
const CLIENT_HINT =
  'set etcd.tls.cert and etcd.tls.key (SYNCER_ETCD_TLS_CERT / SYNCER_ETCD_TLS_KEY) ' + 'to a client certificate signed by a CA the cluster trusts';
const UNTRUSTED = /unable to verify|self[- ]signed|unable to get (local )?issuer|certificate verify failed|CERT_UNTRUSTED|UNABLE_TO_VERIFY/i;
const CLIENT_REFUSED = /alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure)|SSL alert number (40|42|46|48|116)/i;

/** The server's certificate, or ours, was refused: which, and what to set. */
function certificateCause(msg: string, ctx: ErrorContext): { cause: string; hint: string } | undefined {
  const detail = ` (${tlsDetail(msg)})`;
  if (UNTRUSTED.test(msg)) {
    const why = ctx.ca ? 'it is not signed by the CA in etcd.tls.ca' : 'etcd.tls.ca is unset, so only the system CAs are trusted';
    return { cause: `the server certificate is not trusted: ${why}${detail}`, hint: CA_HINT };
  }
  if (/certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid|CERT_NOT_YET_VALID/i.test(msg)) {
    return {
      cause: `the server certificate has expired or is not yet valid${detail}`,
      hint: "renew the etcd server certificate, or check this machine's clock",
    };
  }
  if (/does not match certificate|altnames|ERR_TLS_CERT_ALTNAME|hostname mismatch/i.test(msg)) {
    return {
      cause: `the server certificate is not for this host name${detail}`,
      hint: 'use the host name the etcd server certificate was issued for in etcd.hosts',
    };
  }
  if (CLIENT_REFUSED.test(msg)) {
    const why = ctx.cert ? 'etcd.tls.cert is not signed by a CA the cluster trusts' : 'the cluster requires one and etcd.tls.cert / etcd.tls.key are unset';
    return { cause: `the server refused the client certificate: ${why}${detail}`, hint: CLIENT_HINT };
  }
  return undefined;
}

/** What a failed TLS handshake means, in words, from the OpenSSL / Node text of the error. */
function tlsCause(msg: string, ctx: ErrorContext): { cause: string; hint: string } | undefined {
  const certificate = certificateCause(msg, ctx);
  if (certificate) return certificate;
  // Go's answer to plain http on a TLS port.
  if (/sent an HTTP request to an HTTPS server/i.test(msg)) {
    return {
      cause: 'the server speaks TLS: an http:// URL for an https:// endpoint?',
      hint: 'use https:// in etcd.hosts (and set etcd.tls.ca) for a TLS server',
    };
  }
  if (/wrong version number|packet length too long|http request|socket disconnected before secure TLS connection/i.test(msg)) {
    const cause = `the server does not speak TLS: an https:// URL for a plain http:// endpoint? (${tlsDetail(msg)})`;
    return { cause, hint: 'use http:// in etcd.hosts for a server without TLS' };
  }
  if (/certificate|SSL|TLS|handshake/i.test(msg)) return { cause: tlsDetail(msg), hint: `${CA_HINT}; ${CLIENT_HINT}` };
  return undefined;
}

/** Refused credentials, a missing user, auth not enabled, or a missing permission. */
function accessCause(msg: string, where: string, what: string, username: string | undefined): Cause | undefined {
  const user = username ? `etcd user "${username}"` : 'no etcd user (etcd.username unset)';
  if (/invalid user ID or password/i.test(msg)) {
    return {
      message: `etcd at ${where} refused the credentials of ${user} (authentication failed: wrong user name or password)`,
      hint: 'check etcd.username / etcd.password (SYNCER_ETCD_USERNAME / SYNCER_ETCD_PASSWORD)',
    };
  }
  if (/user name is empty|invalid auth token|auth token is expired/i.test(msg)) {
    const why = username ? `no valid token for etcd user "${username}"` : 'etcd.username is unset';
    return {
      message: `etcd at ${where} requires authentication (authentication failed: ${why})`,
      hint: 'set etcd.username and etcd.password (SYNCER_ETCD_USERNAME / SYNCER_ETCD_PASSWORD)',
    };
  }
  if (/authentication is not enabled/i.test(msg)) {
    return {
      message: `etcd at ${where} does not have authentication enabled, but etcd.username is set (authentication failed)`,
      hint: 'unset etcd.username and etcd.password, or ask the cluster admin to enable auth',
    };
  }
  if (/permission denied/i.test(msg)) {
    return {
      message: `etcd at ${where} denied permission to ${user} for the ${what} (permission denied)`,
      hint:
        'ask the cluster admin to grant your etcd user readwrite on the syncer namespace ' +
        '(etcdctl role grant-permission --prefix=true ROLE readwrite NAMESPACE)',
    };
  }
  return undefined;
}

/** The client's words ("connect ECONNREFUSED 127.0.0.1:2379") as a person would say them. */
function plainCause(msg: string): string {
  // A member that answers but cannot serve: the cluster lost its quorum (or is electing a leader).
  if (/etcdserver: (no leader|request timed out|leader changed)|RAFT NO LEADER/i.test(msg)) {
    return (
      'the cluster has no leader (quorum lost: fewer than a majority of its members are up, or they cannot reach each other); ' +
      'members answer but cannot serve requests'
    );
  }
  if (/ECONNREFUSED/.test(msg)) return 'connection refused (is etcd running there, on that port?)';
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo|Name resolution failed/i.test(msg)) return 'host name not found';
  if (/EHOSTUNREACH|ENETUNREACH/.test(msg)) return 'no route to the host';
  if (/no answer within/i.test(msg)) return `no answer in time (${firstLine(msg)})`;
  return firstLine(msg);
}

/** Map any failure of the etcd client to a SyncerError (exit 3) whose message names the cause. */
export function registryError(e: unknown, hosts: string[], what = 'registry request', ctx: ErrorContext = {}): SyncerError {
  if (e instanceof SyncerError) return e;
  const where = hosts.join(', ');
  const msg = e instanceof Error ? e.message : String(e);
  const access = accessCause(msg, where, what, ctx.username);
  if (access) return new SyncerError('REGISTRY', access.message, { hint: access.hint, cause: e });
  const tls = tlsCause(msg, ctx);
  if (tls) return new SyncerError('REGISTRY', `TLS connection to etcd at ${where} failed: ${tls.cause}`, { hint: tls.hint, cause: e });
  return new SyncerError('REGISTRY', `etcd at ${where} is unreachable or did not answer: ${plainCause(msg)}`, {
    hint: 'check etcd.hosts and that the cluster is up (`syncer doctor`)',
    cause: e,
  });
}
