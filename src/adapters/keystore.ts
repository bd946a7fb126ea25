/**
 * Files in the per-user config dir that hold trust: this operator's private signing key (mode
 * 0600, never printed, never in a repository) and the keys pinned for other operators.
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SyncerError } from '../errors.js';
import { generateKeyPair, publicKeyOf, type KeyPair } from '../core/signing.js';
import { makeDirs } from './dirs.js';

/** How a key came to be pinned: only 'first-use' is trust the user never checked. */
export type PinSource = 'first-use' | 'fingerprint' | 'trust-file' | 'rotation' | 'accept-key' | 'own-key';

/** The pin source a key decision (core/trust.ts PinState) stands for. */
export function pinSourceOf(state: string): PinSource {
  return state === 'rotated' ? 'rotation' : state === 'accepted' ? 'accept-key' : state === 'vouched' ? 'trust-file' : 'first-use';
}

interface Pin {
  publicKey: string;
  pinnedAt: string;
  /** Missing in files written before it was recorded: those were pinned on first use. */
  source?: PinSource;
}

/**
 * Version 2 keys pins by registry scope (the namespace; `embedded|` + namespace for the local
 * embedded etcd), not by the endpoint URLs it was reached through: another list of endpoints, a
 * proxy or a restored cluster keeps the pins. Version 1 keyed them by "sorted hosts|namespace".
 */
interface PinFile {
  version: 2;
  scopes: Record<string, Record<string, Pin>>;
  /** The etcd cluster ID each scope was last read from: a wipe or restore changes it (warned, pins kept). */
  clusters?: Record<string, string>;
}

const isPin = (p: unknown): p is Pin => !!p && typeof (p as Pin).publicKey === 'string' && typeof (p as Pin).pinnedAt === 'string';

function isPinMap(m: unknown): m is Record<string, Record<string, Pin>> {
  return (
    !!m &&
    typeof m === 'object' &&
    !Array.isArray(m) &&
    Object.values(m).every((ops) => !!ops && typeof ops === 'object' && !Array.isArray(ops) && Object.values(ops).every(isPin))
  );
}

/** A version 1 file's pins under the scope each registry id names (the earliest pin wins). */
export function migratePins(registries: Record<string, Record<string, Pin>>): Record<string, Record<string, Pin>> {
  const scopes: Record<string, Record<string, Pin>> = {};
  for (const [id, ops] of Object.entries(registries)) {
    const bar = id.lastIndexOf('|');
    const scope = id.startsWith('embedded|') ? id : id.slice(bar + 1);
    for (const [op, pin] of Object.entries(ops)) {
      const have = (scopes[scope] ??= {})[op];
      if (!have || pin.pinnedAt < have.pinnedAt) scopes[scope][op] = pin;
    }
  }
  return scopes;
}

/** The pins in a file's text, or why they cannot be read (the caller refuses, never resets). */
export function parsePins(text: string): { ok: true; pins: PinFile } | { ok: false; problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `not valid JSON (${(e as Error).message})` };
  }
  const file = raw as { version?: unknown; registries?: unknown; scopes?: unknown };
  const clusters = (file as { clusters?: unknown })?.clusters;
  const clusterMap =
    clusters && typeof clusters === 'object' && !Array.isArray(clusters) && Object.values(clusters).every((v) => typeof v === 'string')
      ? (clusters as Record<string, string>)
      : undefined;
  if (file?.version === 2 && isPinMap(file.scopes))
    return { ok: true, pins: { version: 2, scopes: file.scopes, ...(clusterMap ? { clusters: clusterMap } : {}) } };
  if (file?.version === 1 && isPinMap(file.registries)) return { ok: true, pins: { version: 2, scopes: migratePins(file.registries) } };
  return {
    ok: false,
    problem: 'not a pin file syncer knows (expected version 2 with "scopes", or version 1 with "registries", of operator -> {publicKey, pinnedAt})',
  };
}

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export class Keystore {
  private readonly keysDir: string;
  private readonly pinsFile: string;
  private pins?: PinFile;

  constructor(configDir: string) {
    this.keysDir = join(configDir, 'keys');
    this.pinsFile = join(configDir, 'known_operators.json');
  }

  keyFile(operator: string): string {
    return join(this.keysDir, `${operator}.ed25519.pem`);
  }

  load(operator: string): KeyPair | undefined {
    const file = this.keyFile(operator);
    if (!existsSync(file)) return undefined;
    try {
      const privateKeyPem = readFileSync(file, 'utf8');
      return { privateKeyPem, publicKey: publicKeyOf(privateKeyPem) };
    } catch (e) {
      throw new SyncerError('USAGE', `cannot read the signing key ${file}: ${(e as Error).message}`, {
        hint: 'restore it from a backup, or rotate (syncer keys rotate) from a machine that has it',
      });
    }
  }

  save(operator: string, pair: KeyPair): void {
    makeDirs(this.keysDir, 0o700);
    writePrivate(this.keyFile(operator), pair.privateKeyPem);
  }

  /** This operator's key pair, made on first use. */
  loadOrCreate(operator: string): { pair: KeyPair; created: boolean } {
    const existing = this.load(operator);
    if (existing) return { pair: existing, created: false };
    const pair = generateKeyPair();
    this.save(operator, pair);
    return { pair, created: true };
  }

  /**
   * The pins, or exit 2 naming the file: a pin file that cannot be read is never treated as empty
   * (every key would be trusted on first use again) and never overwritten.
   */
  private readPins(): PinFile {
    if (this.pins) return this.pins;
    let text: string;
    try {
      text = readFileSync(this.pinsFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw this.unreadable((e as Error).message);
      return (this.pins = { version: 2, scopes: {} });
    }
    const parsed = parsePins(text);
    if (!parsed.ok) throw this.unreadable(parsed.problem);
    return (this.pins = parsed.pins);
  }

  private unreadable(problem: string): SyncerError {
    return new SyncerError('USAGE', `cannot read the pinned operator keys in ${this.pinsFile}: ${problem}`, {
      hint: `restore it from a backup; moving it aside trusts every operator's key on first use again (pin known keys with syncer operators)`,
    });
  }

  pinned(scope: string, operator: string): string | undefined {
    return this.readPins().scopes[scope]?.[operator]?.publicKey;
  }

  /** Whether any key is pinned for `scope` (no pins: nothing to keep, no cluster to note). */
  hasPins(scope: string): boolean {
    return Object.keys(this.readPins().scopes[scope] ?? {}).length > 0;
  }

  /** How the operator's pinned key was pinned (undefined when none is). */
  pinSource(scope: string, operator: string): PinSource | undefined {
    const pin = this.readPins().scopes[scope]?.[operator];
    return pin ? (pin.source ?? 'first-use') : undefined;
  }

  /**
   * Record the cluster ID `scope` answers from; returns the one recorded before when it differs (the
   * registry was wiped or restored: the caller warns, the pins stay). Written only where pins exist.
   */
  noteCluster(scope: string, clusterId: string): string | undefined {
    const pins = this.readPins();
    const before = pins.clusters?.[scope];
    if (before === clusterId || !pins.scopes[scope]) return undefined;
    (pins.clusters ??= {})[scope] = clusterId;
    this.write(pins);
    return before;
  }

  pin(scope: string, operator: string, publicKey: string, now: Date, source: PinSource): void {
    const pins = this.readPins();
    (pins.scopes[scope] ??= {})[operator] = { publicKey, pinnedAt: now.toISOString(), source };
    this.write(pins);
  }

  private write(pins: PinFile): void {
    makeDirs(join(this.pinsFile, '..'), 0o700);
    writePrivate(this.pinsFile, `${JSON.stringify(pins, null, 2)}\n`);
  }
}
