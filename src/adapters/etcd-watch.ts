/**
 * A watch over etcd's HTTP API: one streaming POST /v3/watch to one member, which sends a JSON
 * message per batch of events. Connecting fails over across the members like any request. Once
 * connected, a lost stream is reported, never resumed here: the caller watches again from its own
 * position (resuming from the last message's revision could skip part of a catch-up batch).
 *
 * A frozen member or a silent network loss does not close a TCP stream, and the gateway's stream
 * carries no pings: while the stream is quiet, the same member is asked a cheap local read, and a
 * watch whose member does not answer within PROBE_TIMEOUT_MS is reported lost (within ~7 s).
 */
import { EtcdWireError, type Endpoint, type EtcdWire, type Json, type WireStream } from './etcd-http.js';

/** A probe is sent once the stream has been quiet this long... */
const QUIET_MS = 3000;
/** ...and the member must answer it within this. */
const PROBE_TIMEOUT_MS = 3000;
const TICK_MS = 1000;

export interface WatchRequest {
  /** base64, as the API wants it. */
  key: string;
  range_end?: string;
  start_revision: string;
  /** e.g. ['NOPUT']: deletions only. */
  filters?: string[];
}

export interface WatchHandlers {
  /** etcd created the watch (the stream is connected). */
  created(): void;
  events(events: Json[]): void;
  /** etcd cancelled the watch (its start revision was compacted, or permission is missing). */
  cancelled(e: Error): void;
  /** No member could be reached, or the stream broke or went silent. */
  lost(e: Error): void;
}

export interface StreamWatch {
  cancel(): void;
}

/** Why etcd cancelled a watch, in words (a compacted start revision comes without a reason). */
function cancelReason(m: Json, from: string): string {
  if (typeof m.cancel_reason === 'string' && m.cancel_reason !== '') return m.cancel_reason;
  if (m.compact_revision !== undefined) {
    return `mvcc: required revision ${from} has been compacted (etcd keeps history from revision ${String(m.compact_revision)} on)`;
  }
  return '';
}

class WireWatch implements StreamWatch {
  private stream?: WireStream;
  private ticker?: NodeJS.Timeout;
  private connectTimer?: NodeJS.Timeout;
  private stopped = false;
  private lastHeard = Date.now();
  private probing = false;

  constructor(
    private readonly wire: EtcdWire,
    private readonly request: WatchRequest,
    private readonly handlers: WatchHandlers,
  ) {
    void this.connect(wire.order());
  }

  /** Try the members in turn until one creates the watch; lost when none does. */
  private async connect(order: Endpoint[]): Promise<void> {
    let last: unknown = new EtcdWireError('no etcd member to watch');
    for (const host of order) {
      if (this.stopped) return;
      try {
        await this.wire.authed((token) => this.attempt(host, token));
        this.wire.noteResult(host);
        this.startProbes(host);
        return;
      } catch (e) {
        if (this.stopped) return;
        last = e;
        this.wire.noteResult(host, e);
        if (!(e instanceof EtcdWireError && e.recoverable)) break;
      }
    }
    this.fail(last as Error);
  }

  /** Open the stream on `host`: resolves at its first message, rejects if none comes within the attempt's deadline. */
  private attempt(host: Endpoint, token: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      let connected = false;
      const onMessage = (m: Json) => {
        this.lastHeard = Date.now();
        if (!connected) {
          connected = true;
          clearTimeout(this.connectTimer);
          resolve();
        }
        this.onMessage(m);
      };
      const onEnd = (e: EtcdWireError) => {
        clearTimeout(this.connectTimer);
        if (connected) this.fail(e);
        else reject(e);
      };
      const stream = this.wire.stream(host, '/v3/watch', { create_request: this.request }, token, onMessage, onEnd);
      this.stream = stream;
      if (this.stopped) {
        stream.close();
        return reject(new EtcdWireError('the watch was cancelled'));
      }
      // Cleared by stop(): a cancelled watch leaves no timer behind to hold the process.
      this.connectTimer = setTimeout(() => {
        stream.close();
        reject(new EtcdWireError(`no answer within ${this.wire.perAttemptMs} ms from ${host.url}`, { recoverable: true, deadline: true }));
      }, this.wire.perAttemptMs);
    });
  }

  private onMessage(m: Json): void {
    if (this.stopped) return;
    if (m.created) this.handlers.created();
    const events = m.events as Json[] | undefined;
    if (!this.stopped && events?.length) this.handlers.events(events);
    if (!this.stopped && m.canceled) {
      this.stop();
      const reason = cancelReason(m, this.request.start_revision);
      this.handlers.cancelled(new Error(`Watcher canceled: ${reason}`));
    }
  }

  /** While the stream is quiet, ask its member a local read: a member that does not answer loses the watch. */
  private startProbes(host: Endpoint): void {
    const probe = { key: this.request.key, count_only: true, serializable: true };
    this.ticker = setInterval(() => {
      if (this.stopped || this.probing || Date.now() - this.lastHeard < QUIET_MS) return;
      this.probing = true;
      this.wire
        .authed((token) => this.wire.post(host, '/v3/kv/range', probe, token, PROBE_TIMEOUT_MS))
        .then(
          () => (this.lastHeard = Date.now()),
          (e: Error) => {
            this.wire.noteResult(host, e);
            this.fail(new EtcdWireError(`etcd at ${host.url} stopped answering while watching (${e.message})`, { cause: e }));
          },
        )
        .finally(() => (this.probing = false));
    }, TICK_MS);
    this.ticker.unref();
  }

  private fail(e: Error): void {
    if (this.stopped) return;
    this.stop();
    this.handlers.lost(e);
  }

  private stop(): void {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.connectTimer);
    this.stream?.close();
  }

  cancel(): void {
    this.stop();
  }
}

/** Watch `request` (every handler attached before anything can arrive). */
export function openWatch(wire: EtcdWire, request: WatchRequest, handlers: WatchHandlers): StreamWatch {
  return new WireWatch(wire, request, handlers);
}
