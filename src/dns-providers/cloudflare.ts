// DNS_PROVIDER=cloudflare: Cloudflare keeps one record per value, not RRsets. A ZoneChange is read (the records of
// each name and type it touches), compared with what should be there, and written as one batch (Cloudflare runs a
// batch in one transaction): records already right are left alone, others are overwritten in place (PUT), created
// (POST) or deleted. Reading first makes apply() idempotent; a retry starts again from the read.
import Cloudflare, { APIConnectionError, APIError } from 'cloudflare';
import type { BatchPutParam, RecordBatchParams, RecordResponse } from 'cloudflare/resources/dns/records';
import { parseSvcParams, parseTxt, svcParamsPresentation, txtPresentation } from '../dns/presentation.ts';
import {
  DnsProviderError,
  type DnsProvider,
  type PublishedType,
  type RecordData,
  type RRset,
  type SrvData,
  type SvcbData,
  type TlsaData,
  type TxtData,
  type ZoneChange,
} from '../dns/rrset.ts';
import { canonicalName } from '../dns/zone.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { redact } from './redact.ts';
import { defaultRetryPolicy, withRetries, type RetryPolicy } from './retry.ts';

export const CLOUDFLARE_API_URL = 'https://api.cloudflare.com/client/v4';

export interface CloudflareSettings {
  readonly apiToken: string;
  readonly zoneId: string;
  /** An API base URL other than Cloudflare's (a gateway, a test stand-in). */
  readonly apiUrl?: string | undefined;
  readonly retry?: RetryPolicy;
  /** How long one API call may take. */
  readonly requestTimeoutMs?: number;
  readonly logger?: Logger;
}

/** Records per list page; a set rarely holds more than a few. */
const PAGE_SIZE = 100;

/** A record as Cloudflare's API takes it in a batch's posts (and, with an id, its puts). */
type RecordParam = NonNullable<RecordBatchParams['posts']>[number];

interface Plan {
  readonly deletes: RecordBatchParams.Delete[];
  readonly puts: BatchPutParam[];
  readonly posts: RecordParam[];
}

export class CloudflareProvider implements DnsProvider {
  readonly name = 'cloudflare';
  private readonly client: Cloudflare;
  private readonly logger: Logger;

  constructor(private readonly settings: CloudflareSettings) {
    this.client = new Cloudflare({
      apiToken: settings.apiToken,
      // Explicitly none: the SDK would otherwise read CLOUDFLARE_API_KEY / CLOUDFLARE_EMAIL from the environment.
      apiKey: null,
      apiEmail: null,
      userServiceKey: null,
      baseURL: settings.apiUrl ?? CLOUDFLARE_API_URL,
      // The SDK's own retries would wait as long as a Retry-After says, unbounded: withRetries bounds them instead.
      maxRetries: 0,
      timeout: settings.requestTimeoutMs ?? 30_000,
      logLevel: 'off',
    });
    this.logger = (settings.logger ?? silentLogger).child({ component: 'dns-cloudflare' });
  }

  async apply(change: ZoneChange): Promise<void> {
    if (change.upsert.length === 0 && change.remove.length === 0) return;
    await withRetries(
      async () => {
        try {
          const plan = await this.plan(change);
          if (plan.deletes.length + plan.puts.length + plan.posts.length === 0) return;
          await this.client.dns.records.batch({ zone_id: this.settings.zoneId, ...plan });
        } catch (error) {
          throw this.refusal(error);
        }
      },
      this.settings.retry ?? defaultRetryPolicy,
      this.logger,
      this.name,
    );
  }

  /** What the batch must do to make Cloudflare hold exactly the change's sets and none of its removed ones. */
  private async plan(change: ZoneChange): Promise<Plan> {
    const plan: Plan = { deletes: [], puts: [], posts: [] };
    for (const rrset of change.upsert) {
      const unmatched = [...(await this.existing(rrset))];
      const missing: RecordData[] = [];
      for (const record of rrset.records) {
        const same = unmatched.findIndex((existing) => existing.ttl === rrset.ttl && sameData(rrset.type, existing, record));
        if (same >= 0) unmatched.splice(same, 1);
        else missing.push(record);
      }
      for (const record of missing) {
        const reuse = unmatched.shift();
        const param = recordParam(rrset, record);
        if (reuse === undefined) plan.posts.push(param);
        else plan.puts.push({ ...param, id: reuse.id } as BatchPutParam);
      }
      plan.deletes.push(...unmatched.map((record) => ({ id: record.id })));
    }
    for (const rrset of change.remove) plan.deletes.push(...(await this.existing(rrset)).map((record) => ({ id: record.id })));
    return plan;
  }

  /** The records Cloudflare holds for the set's name and type. */
  private async existing(rrset: Pick<RRset, 'name' | 'type'>): Promise<RecordResponse[]> {
    const records: RecordResponse[] = [];
    let page = await this.client.dns.records.list({ zone_id: this.settings.zoneId, name: { exact: rrset.name }, type: rrset.type, per_page: PAGE_SIZE });
    for (;;) {
      // The name filter ignores case; the type filter is exact. Checked again so a lax API cannot widen a delete.
      records.push(...page.result.filter((record) => canonicalName(record.name) === rrset.name && record.type === rrset.type));
      // A page less than full is the last (the SDK's own iteration would ask for one more, empty page).
      if (page.result.length < PAGE_SIZE) return records;
      page = await page.getNextPage();
    }
  }

  /** Any failure as a DnsProviderError: 429, 408, 409, 5xx and the network retryable; the message without the token. */
  private refusal(error: unknown): DnsProviderError {
    if (error instanceof DnsProviderError) return error;
    const secrets = [this.settings.apiToken];
    if (error instanceof APIError && error.status !== undefined) {
      const status = error.status;
      const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
      const reasons = error.errors.map((item) => `${item.code}: ${item.message}`).join('; ');
      const message = `Cloudflare ${retryable ? 'could not take' : 'refused'} the change: HTTP ${status}${reasons === '' ? '' : `: ${reasons}`}`;
      return new DnsProviderError(redact(message, secrets), retryable, retryAfterMs(error.headers));
    }
    const detail = error instanceof APIConnectionError ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    return new DnsProviderError(redact(`Cloudflare unreachable: ${detail}`, secrets), true);
  }
}

/** Retry-After in seconds or as an HTTP date, as milliseconds from now. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after');
  if (value === null || value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A name as Cloudflare writes record targets: no trailing dot, the root as `.`. */
const targetName = (name: string) => (name === '' ? '.' : name);

/** One record as Cloudflare's API takes it: TXT as quoted character-strings, the others as their `data` object. */
function recordParam(rrset: RRset, record: RecordData): RecordParam {
  const common = { name: rrset.name, ttl: rrset.ttl };
  switch (rrset.type) {
    case 'TXT':
      return { ...common, type: 'TXT', content: txtPresentation(record as TxtData) };
    case 'TLSA': {
      const tlsa = record as TlsaData;
      return { ...common, type: 'TLSA', data: { usage: tlsa.usage, selector: tlsa.selector, matching_type: tlsa.matchingType, certificate: tlsa.data } };
    }
    case 'SRV': {
      const srv = record as SrvData;
      return { ...common, type: 'SRV', data: { priority: srv.priority, weight: srv.weight, port: srv.port, target: targetName(srv.target) } };
    }
    case 'SVCB': {
      const svcb = record as SvcbData;
      return { ...common, type: 'SVCB', data: { priority: svcb.priority, target: targetName(svcb.target), value: svcParamsPresentation(svcb.params) } };
    }
  }
}

/** Whether Cloudflare's record holds `wanted`, compared as data so Cloudflare's own formatting does not count. */
function sameData(type: PublishedType, existing: RecordResponse, wanted: RecordData): boolean {
  try {
    const held = dataOf(type, existing);
    return held !== undefined && comparable(type, held) === comparable(type, wanted);
  } catch {
    // A record the registry cannot read is not one it wrote: it is overwritten.
    return false;
  }
}

/** Record data as text with its fields in one order, names canonical, hex lowercase. */
function comparable(type: PublishedType, data: RecordData): string {
  switch (type) {
    case 'TXT':
      return JSON.stringify((data as TxtData).strings);
    case 'TLSA': {
      const { usage, selector, matchingType, data: hex } = data as TlsaData;
      return JSON.stringify([usage, selector, matchingType, hex.toLowerCase()]);
    }
    case 'SRV': {
      const { priority, weight, port, target } = data as SrvData;
      return JSON.stringify([priority, weight, port, canonicalName(target)]);
    }
    case 'SVCB': {
      const { priority, target, params } = data as SvcbData;
      return JSON.stringify([priority, canonicalName(target), params.map(({ key, value }) => [key, value])]);
    }
  }
}

/** Cloudflare's record as the registry's data: TXT from its quoted content, the others from their `data` object. */
function dataOf(type: PublishedType, record: RecordResponse): RecordData | undefined {
  const data = 'data' in record && typeof record.data === 'object' && record.data !== null ? (record.data as Record<string, unknown>) : {};
  const text = (key: string) => String(data[key] ?? '');
  const int = (key: string) => Number(data[key]);
  switch (type) {
    case 'TXT':
      return 'content' in record && typeof record.content === 'string' ? parseTxt(record.content) : undefined;
    case 'TLSA':
      return { usage: int('usage'), selector: int('selector'), matchingType: int('matching_type'), data: text('certificate') };
    case 'SRV':
      return { priority: int('priority'), weight: int('weight'), port: int('port'), target: text('target') };
    case 'SVCB':
      return { priority: int('priority'), target: text('target'), params: parseSvcParams(text('value')) };
  }
}
