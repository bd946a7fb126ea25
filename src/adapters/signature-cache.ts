/**
 * Signatures this machine has already verified, so that a listing pays for ed25519 once per entry
 * rather than on every run (2,000 checks took 226 ms of `syncer ls HUB`). A record is the first 16
 * bytes of SHA-256(public key, signature, signed text): only an entry whose exact bytes verified
 * before under that exact key matches, so a hostile writer gains nothing from it. One file per hub,
 * so a listing reads only its hub's records. It holds proofs, not decisions: a file that cannot be
 * read is said once and started again, and every entry is then verified the slow way.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from './dirs.js';

const RECORD_BYTES = 16;
/** Per hub (3.2 MB); past it the newest half is kept. */
const MAX_RECORDS = 200_000;

export class SignatureCache {
  private readonly hubs = new Map<string, { known: Set<string>; added: Buffer[]; count: number }>();

  constructor(
    private readonly dir: string,
    private readonly warn: (message: string) => void,
  ) {}

  static digest(publicKey: string, signature: string, text: string): Buffer {
    return createHash('sha256').update(publicKey).update('\n').update(signature).update('\n').update(text).digest().subarray(0, RECORD_BYTES);
  }

  has(hub: string, digest: Buffer): boolean {
    return this.load(hub).known.has(digest.toString('latin1'));
  }

  add(hub: string, digest: Buffer): void {
    const h = this.load(hub);
    if (h.known.has(digest.toString('latin1'))) return;
    h.known.add(digest.toString('latin1'));
    h.added.push(digest);
  }

  /** Appends what was verified since the last flush (one write per hub). */
  flush(): void {
    for (const [hub, h] of this.hubs) {
      if (h.added.length === 0) continue;
      const file = this.fileOf(hub);
      try {
        makeDirs(this.dir, 0o700);
        if (h.count + h.added.length > MAX_RECORDS) {
          const newest = [...h.known].slice(-MAX_RECORDS / 2).map((k) => Buffer.from(k, 'latin1'));
          writeFileSync(file, Buffer.concat(newest), { mode: 0o600 });
          h.count = newest.length;
        } else {
          appendFileSync(file, Buffer.concat(h.added), { mode: 0o600 });
          h.count += h.added.length;
        }
      } catch (e) {
        this.warn(
          `cannot write the cache of verified signatures ${file} (${(e as NodeJS.ErrnoException).code ?? e}): entries will be verified again next time`,
        );
      }
      h.added = [];
    }
  }

  private fileOf(hub: string): string {
    return join(this.dir, `${hub}.bin`);
  }

  private load(hub: string) {
    let h = this.hubs.get(hub);
    if (h) return h;
    h = { known: new Set<string>(), added: [], count: 0 };
    this.hubs.set(hub, h);
    let data: Buffer;
    try {
      data = readFileSync(this.fileOf(hub));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(`cannot read the cache of verified signatures ${this.fileOf(hub)}: verifying every entry`);
      return h;
    }
    // A record torn by a crash (or two writers) is the tail's last bytes: the whole records before it hold.
    const whole = data.length - (data.length % RECORD_BYTES);
    for (let at = 0; at < whole; at += RECORD_BYTES) h.known.add(data.toString('latin1', at, at + RECORD_BYTES));
    h.count = whole / RECORD_BYTES;
    return h;
  }
}
