/**
 * A real HTTP JSON API for the `source` tests, on 127.0.0.1 at a free port: records paged by
 * start/limit (`/start/records`), page/limit (`/page/records`) or a next link (`/next/records`),
 * filtered by `updatedSince` when given, and a POST endpoint that assigns ids (like a service
 * would). Faults on demand: a 429 with Retry-After, a 500 at the n-th request, a server that dies
 * at the n-th request (connections cut, port closed). Every request is logged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type ApiRecord = Record<string, unknown> & { id: number };

export interface Faults {
  /** Answer the n-th GET (1-based) with 429 and Retry-After: 1, once. */
  tooManyAt?: number;
  /** Answer the n-th GET (1-based) with 500, once. */
  errorAt?: number;
  /** At the n-th GET (1-based), cut every connection and stop listening. */
  dieAt?: number;
  /** At the n-th POST (1-based), cut every connection and stop listening. */
  postDieAt?: number;
  /** Answer every POST with this status. */
  postStatus?: number;
  /** Ignore paging parameters (always send the first page). */
  ignorePaging?: boolean;
}

export class FakeApi {
  records: ApiRecord[] = [];
  nextId = 1000;
  faults: Faults = {};
  readonly requests: { method: string; url: string }[] = [];
  readonly posts: unknown[][] = [];
  private gets = 0;
  private postCount = 0;
  private server?: Server;
  port = 0;

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Records sorted by id, with `updated_at` ISO strings. */
  put(...records: ApiRecord[]): void {
    for (const r of records) {
      const i = this.records.findIndex((x) => x.id === r.id);
      if (i >= 0) this.records[i] = r;
      else this.records.push(r);
    }
    this.records.sort((a, b) => a.id - b.id);
  }

  resetLog(): void {
    this.requests.length = 0;
    this.posts.length = 0;
    this.gets = 0;
    this.postCount = 0;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Start again on the same port (after dieAt). */
  async restart(): Promise<void> {
    this.faults = {};
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s?.listening) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    this.requests.push({ method: req.method ?? 'GET', url: url.pathname + url.search });
    if (req.method === 'POST') {
      this.postCount++;
      if (this.faults.postDieAt === this.postCount) {
        this.faults.postDieAt = undefined;
        req.socket.destroy();
        await this.close();
        return;
      }
      let text = '';
      for await (const chunk of req) text += chunk;
      if (this.faults.postStatus) return this.send(res, this.faults.postStatus, { error: 'refused' });
      const batch = JSON.parse(text) as Record<string, unknown>[];
      this.posts.push(batch);
      const out = batch.map((r) => {
        const id = typeof r.id === 'number' && this.records.some((x) => x.id === r.id) ? r.id : this.nextId++;
        const rec = { ...r, id } as ApiRecord;
        this.put(rec);
        return rec;
      });
      return this.send(res, 201, { created: out });
    }
    const n = ++this.gets;
    if (this.faults.dieAt === n) {
      this.faults.dieAt = undefined;
      req.socket.destroy();
      await this.close();
      return;
    }
    if (this.faults.tooManyAt === n) {
      this.faults.tooManyAt = undefined;
      return this.send(res, 429, { error: 'slow down' }, { 'retry-after': '1' });
    }
    if (this.faults.errorAt === n) {
      this.faults.errorAt = undefined;
      return this.send(res, 500, { error: 'boom' });
    }
    const since = url.searchParams.get('updatedSince');
    const all = since ? this.records.filter((r) => String(r.updated_at) >= since) : this.records;
    const limit = Number(url.searchParams.get('limit') ?? 1000);
    const mode = url.pathname.split('/')[1];
    if (mode === 'start') {
      const start = this.faults.ignorePaging ? 0 : Number(url.searchParams.get('start') ?? 0);
      return this.send(res, 200, { data: { items: all.slice(start, start + limit) }, total: all.length });
    }
    if (mode === 'page') {
      const page = this.faults.ignorePaging ? 1 : Number(url.searchParams.get('page') ?? 1);
      return this.send(res, 200, all.slice((page - 1) * limit, page * limit));
    }
    if (mode === 'next') {
      const after = Number(url.searchParams.get('after') ?? -Infinity);
      const page = all.filter((r) => r.id > after).slice(0, limit);
      const last = page[page.length - 1];
      const next =
        page.length === limit && last ? `/next/records?after=${last.id}&limit=${limit}${since ? `&updatedSince=${encodeURIComponent(since)}` : ''}` : null;
      return this.send(res, 200, { records: page, links: { next } });
    }
    if (mode === 'csv') {
      res.writeHead(200, { 'content-type': 'text/csv' });
      return void res.end(
        `\ufeffid,name,depth\r\n${this.records.map((r) => `${r.id},"${String(r.name).replace(/"/g, '""')}",${r.depth ?? ''}`).join('\r\n')}\r\n`,
      );
    }
    if (mode === 'broken') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"records": [ {"id": 1}, ');
    }
    return this.send(res, 404, { error: 'no such route' });
  }
}
