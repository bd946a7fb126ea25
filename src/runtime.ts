/**
 * What every command gets: injected dependencies (env, streams, clock, prompter, signal), the
 * resolved config, the decision "can we prompt?" made once, and lazy access to the registry.
 */
import { dirname, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { SyncerError, usageError } from './errors.js';
import { Output } from './adapters/output.js';
import { inquirerPrompter, type Prompter } from './adapters/prompter.js';
import type { Registry } from './adapters/registry.js';
import type { EmbeddedEtcd } from './adapters/embedded-etcd.js';
import { Git, type GitContext } from './adapters/git.js';
import { userPaths, type UserPaths } from './config/paths.js';
import { configFilePath, readConfigFile } from './config/store.js';
import { envKnob, resolveConfig } from './config/resolve.js';
import { Keystore } from './adapters/keystore.js';
import { parseTrustFile, type TrustFile } from './core/trust-file.js';
import type { Config, FileConfig } from './config/schema.js';

export interface Deps {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  now: () => Date;
  signal: AbortSignal;
  prompter?: Prompter;
}

export interface GlobalFlags {
  config?: string;
  /** The consortium's trust file (OPERATOR SHA256:<fingerprint> lines). */
  trustFile?: string;
  json?: boolean;
  input?: boolean; // --no-input sets false
  yes?: boolean;
  etcdHosts?: string;
  namespace?: string;
  verbose?: boolean;
}

export class Runtime {
  readonly out: Output;
  readonly paths: UserPaths;
  readonly configFile: string;
  readonly canPrompt: boolean;
  private fileConfigCache?: FileConfig;
  private configCache?: Config;
  private registryPromise?: Promise<Registry>;
  private prompterInstance?: Prompter;
  private keystoreInstance?: Keystore;
  private trustFileCache?: TrustFile | false;

  constructor(
    readonly deps: Deps,
    readonly flags: GlobalFlags,
  ) {
    this.out = new Output({
      stdout: deps.stdout,
      stderr: deps.stderr,
      json: !!flags.json,
      verbose: !!flags.verbose,
      stderrIsTTY: deps.stderrIsTTY,
    });
    this.paths = userPaths(deps.env);
    this.configFile = configFilePath(flags.config, deps.env, this.paths.defaultConfigFile);
    const noInput = flags.input === false || deps.env.SYNCER_NO_INPUT === '1' || deps.env.SYNCER_NO_INPUT === 'true';
    this.canPrompt = deps.stdinIsTTY && deps.stdoutIsTTY && !deps.env.CI && !noInput;
  }

  /** The same runtime over another file config (init checks etcd with the config it is about to write). */
  withFileConfig(file: FileConfig, flags: Partial<GlobalFlags> = {}): Runtime {
    const other = new Runtime(this.deps, { ...this.flags, ...flags });
    other.fileConfigCache = file;
    return other;
  }

  get env(): NodeJS.ProcessEnv {
    return this.deps.env;
  }

  now(): Date {
    return this.deps.now();
  }

  /** Set by commands that create the config file (init, config): a missing explicit file is fine. */
  createsConfig = false;

  get fileConfig(): FileConfig {
    if (this.fileConfigCache) return this.fileConfigCache;
    const explicit = this.flags.config ?? this.deps.env.SYNCER_CONFIG;
    if (explicit && !this.createsConfig && !existsSync(this.configFile)) {
      throw usageError(`config file ${this.configFile} does not exist`, `create it with syncer init --config ${this.configFile}, or fix the path`);
    }
    this.fileConfigCache ??= readConfigFile(this.configFile);
    return this.fileConfigCache;
  }

  get config(): Config {
    this.configCache ??= resolveConfig({
      file: this.fileConfig,
      fileDir: dirname(this.configFile),
      env: this.deps.env,
      flags: { etcdHosts: this.flags.etcdHosts, namespace: this.flags.namespace },
      cwd: this.deps.cwd,
    });
    return this.configCache;
  }

  /** This user's signing keys and pinned operator keys. */
  get keystore(): Keystore {
    this.keystoreInstance ??= new Keystore(this.paths.configDir);
    return this.keystoreInstance;
  }

  /**
   * Which registry pinned keys belong to: the namespace (of the embedded etcd, or of any cluster),
   * however it is reached: another endpoint list or a restored cluster keeps the pins.
   */
  get trustScope(): string {
    const { hosts, namespace } = this.config.etcd;
    return hosts.length ? namespace : `embedded|${namespace}`;
  }

  /**
   * The consortium's trust file (--trust-file, SYNCER_TRUST_FILE, config trustFile): operator -> fingerprints it
   * vouches for. Read once; a file that cannot be read is exit 2 naming it.
   */
  get trustFile(): TrustFile | undefined {
    if (this.trustFileCache !== undefined) return this.trustFileCache || undefined;
    // Flag > SYNCER_TRUST_FILE > config `trustFile` (the config already made its paths absolute).
    const path = this.flags.trustFile ?? this.config.trustFile;
    if (!path) {
      this.trustFileCache = false;
      return undefined;
    }
    const file = resolve(this.deps.cwd, path);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw usageError(
        `cannot read the trust file ${file}: ${(e as Error).message}`,
        'pass --trust-file FILE (or set trustFile: syncer config set trustFile FILE) naming the file your consortium distributes',
      );
    }
    const parsed = parseTrustFile(text);
    if (!parsed.ok)
      throw usageError(
        `invalid trust file ${file}:${parsed.line}: ${parsed.problem}`,
        'one OPERATOR SHA256:<fingerprint> a line (syncer operators shows fingerprints)',
      );
    this.trustFileCache = parsed.trust;
    return parsed.trust;
  }

  /** The registry as reached (endpoints and namespace): what a watcher's default state file belongs to. */
  get registryId(): string {
    const { hosts, namespace } = this.config.etcd;
    return `${hosts.length ? [...hosts].sort().join(',') : 'embedded'}|${namespace}`;
  }

  get prompter(): Prompter {
    if (!this.canPrompt) throw new SyncerError('UNEXPECTED', 'internal: prompt without a TTY');
    this.prompterInstance ??= this.deps.prompter ?? inquirerPrompter({ input: this.deps.stdin, output: this.deps.stderr, signal: this.deps.signal });
    return this.prompterInstance;
  }

  /**
   * A value from a flag, else a prompt on a TTY, else exit 2 naming the flag: nothing ever waits
   * for input that cannot come.
   */
  async need<T>(value: T | undefined, flag: string, ask: () => Promise<T>): Promise<T> {
    if (value !== undefined) return value;
    if (!this.canPrompt) throw usageError(`missing ${flag}`, `pass ${flag} (no prompt without a TTY, with --no-input, or with CI set)`);
    return ask();
  }

  /** Ask for confirmation on a TTY unless --yes; never needed without a TTY. */
  async confirm(message: string): Promise<boolean> {
    if (this.flags.yes || !this.canPrompt) return true;
    return this.prompter.confirm(message, true);
  }

  /** The embedded local etcd (loaded lazily: `--help` and `config` never pay for it). */
  async embedded(): Promise<EmbeddedEtcd> {
    const { EmbeddedEtcd } = await import('./adapters/embedded-etcd.js');
    return new EmbeddedEtcd(this.paths.dataDir, this.deps.env);
  }

  /** The registry client. `writes` says the command will write: then a local-only registry is announced. */
  registry(options: { writes?: boolean } = {}): Promise<Registry> {
    this.registryPromise ??= (async () => {
      const cfg = this.config;
      let hosts = cfg.etcd.hosts;
      if (hosts.length === 0) {
        const { endpoint, started } = await (await this.embedded()).ensure();
        if (started) this.out.info(`started the embedded local etcd at ${endpoint}`);
        hosts = [endpoint];
      }
      const { Registry } = await import('./adapters/registry.js');
      // Credentials and TLS belong to a shared cluster; the embedded etcd is plain local http.
      const embedded = cfg.etcd.hosts.length === 0;
      return new Registry({
        hosts,
        username: embedded ? undefined : cfg.etcd.username,
        password: embedded ? undefined : cfg.etcd.password,
        tls: embedded ? undefined : cfg.etcd.tls,
        timeoutMs: cfg.etcd.timeoutMs,
        namespace: cfg.etcd.namespace,
        transports: cfg.allowedTransports,
        warn: (m) => this.out.warn(m),
        now: () => this.now(),
        skip: (entry, problem) => this.out.skip(entry, problem),
      });
    })();
    if (options.writes && this.config.etcd.hosts.length === 0) {
      this.out.info(
        'note: the registry is local-only (embedded etcd, etcd.hosts unset): peers will not see it. Join a shared cluster with `syncer init --etcd-hosts URL`.',
      );
    }
    return this.registryPromise;
  }

  git(dir: string, options: { progressLabel?: string } = {}): { git: Git; done: () => void } {
    const bar = options.progressLabel ? this.out.progress(options.progressLabel) : undefined;
    const ctx: GitContext = {
      env: this.deps.env,
      stallTimeoutMs: this.config.gitStallTimeoutSeconds * 1000,
      handshake: {
        maxBytes: envKnob(this.deps.env, 'SYNCER_GIT_HANDSHAKE_MIB') * 1048576,
        maxMs: envKnob(this.deps.env, 'SYNCER_GIT_HANDSHAKE_TIMEOUT') * 1000,
      },
      signal: this.deps.signal,
      progress: bar ? (e) => bar.update(e.stage, e.progress) : undefined,
    };
    return { git: new Git(dir, ctx), done: () => bar?.stop() };
  }

  async close(): Promise<void> {
    if (this.registryPromise) {
      const reg = await this.registryPromise.catch(() => undefined);
      await reg?.close();
    }
  }
}
