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

interface Pin {
  publicKey: string;
  pinnedAt: string;
}

interface PinFile {
  version: 1;
  registries: Record<string, Record<string, Pin>>;
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
      throw new SyncerError('USAGE', `cannot read the signing key ${file}: ${(e as Error).message}`, { hint: 'restore it from a backup, or rotate (syncer keys rotate) from a machine that has it' });
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

  private readPins(): PinFile {
    if (this.pins) return this.pins;
    try {
      const parsed = JSON.parse(readFileSync(this.pinsFile, 'utf8')) as PinFile;
      this.pins = parsed && parsed.version === 1 && typeof parsed.registries === 'object' ? parsed : { version: 1, registries: {} };
    } catch {
      this.pins = { version: 1, registries: {} };
    }
    return this.pins;
  }

  pinned(registryId: string, operator: string): string | undefined {
    return this.readPins().registries[registryId]?.[operator]?.publicKey;
  }

  pin(registryId: string, operator: string, publicKey: string, now: Date): void {
    const pins = this.readPins();
    (pins.registries[registryId] ??= {})[operator] = { publicKey, pinnedAt: now.toISOString() };
    makeDirs(join(this.pinsFile, '..'), 0o700);
    writePrivate(this.pinsFile, JSON.stringify(pins, null, 2) + '\n');
  }
}
