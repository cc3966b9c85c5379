// DNS_PROVIDER=route53: a ZoneChange is one ChangeResourceRecordSets batch (Route 53 applies a batch whole or not
// at all): UPSERT for each set to publish, DELETE for each set to remove. DELETE must name the set exactly as it is;
// a set already gone, or changed since the registry last wrote it, is read back and the batch corrected, so apply()
// stays idempotent.
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  Route53ServiceException,
  type Change,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { rdataPresentation } from '../dns/presentation.ts';
import { DnsProviderError, type DnsProvider, type PublishedType, type RRset, type ZoneChange } from '../dns/rrset.ts';
import { canonicalName } from '../dns/zone.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { redact } from './redact.ts';
import { defaultRetryPolicy, withRetries, type RetryPolicy } from './retry.ts';

export interface Route53Settings {
  readonly hostedZoneId: string;
  readonly region: string;
  /** An API base URL other than AWS's (a gateway, a test stand-in). */
  readonly endpoint?: string | undefined;
  /** Without both keys the AWS SDK's credential chain (environment, profile, instance role) is used. */
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
  readonly retry?: RetryPolicy;
  /** How long one API call may take. */
  readonly requestTimeoutMs?: number;
  readonly logger?: Logger;
}

// Route 53's error codes that mean "not now": its throttles and a change batch still being applied.
const RETRYABLE_CODES = new Set(['Throttling', 'ThrottlingException', 'PriorRequestNotComplete', 'RequestLimitExceeded', 'ServiceUnavailable']);

// Corrections of one batch (a DELETE of a set already gone or changed): each round fixes every problem named.
const MAX_CORRECTIONS = 2;

const absolute = (name: string) => `${name}.`;

export class Route53Provider implements DnsProvider {
  readonly name = 'route53';
  private readonly client: Route53Client;
  private readonly logger: Logger;
  private readonly secrets: readonly (string | undefined)[];

  constructor(private readonly settings: Route53Settings) {
    const { accessKeyId, secretAccessKey } = settings;
    this.client = new Route53Client({
      region: settings.region,
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      ...(accessKeyId === undefined || secretAccessKey === undefined ? {} : { credentials: { accessKeyId, secretAccessKey } }),
      // One try per call: withRetries redoes the whole change, so retries are counted and bounded in one place.
      maxAttempts: 1,
      requestHandler: { requestTimeout: settings.requestTimeoutMs ?? 30_000, connectionTimeout: 10_000 },
    });
    this.logger = (settings.logger ?? silentLogger).child({ component: 'dns-route53' });
    this.secrets = [secretAccessKey, accessKeyId];
  }

  async apply(change: ZoneChange): Promise<void> {
    if (change.upsert.length === 0 && change.remove.length === 0) return;
    const upserts = change.upsert.map((rrset): Change => ({ Action: 'UPSERT', ResourceRecordSet: recordSet(rrset) }));
    await withRetries(
      async () => {
        try {
          const deletes = await this.deletesOf(change.remove);
          await this.submit([...upserts, ...deletes]);
        } catch (error) {
          throw this.refusal(error);
        }
      },
      this.settings.retry ?? defaultRetryPolicy,
      this.logger,
      this.name,
    );
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** DELETEs for the sets to remove: as the registry last wrote them, or as Route 53 holds them when not given. */
  private async deletesOf(sets: readonly RRset[]): Promise<Change[]> {
    const deletes: Change[] = [];
    for (const rrset of sets) {
      const current = rrset.records.length > 0 ? recordSet(rrset) : await this.current(rrset.name, rrset.type);
      if (current !== undefined) deletes.push({ Action: 'DELETE', ResourceRecordSet: current });
    }
    return deletes;
  }

  private async submit(changes: Change[]): Promise<void> {
    let batch = changes;
    for (let corrections = 0; batch.length > 0; corrections += 1) {
      try {
        await this.client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: this.settings.hostedZoneId, ChangeBatch: { Changes: batch } }));
        return;
      } catch (error) {
        const stale = staleDeletes(error);
        if (stale === undefined || corrections >= MAX_CORRECTIONS) throw error;
        batch = await this.corrected(batch, stale);
      }
    }
  }

  /** The batch without DELETEs of sets that are gone, and with those of changed sets as Route 53 holds them now. */
  private async corrected(batch: readonly Change[], stale: ReadonlyMap<string, Staleness>): Promise<Change[]> {
    const out: Change[] = [];
    for (const change of batch) {
      const set = change.ResourceRecordSet;
      const key = set === undefined ? '' : `${canonicalName(set.Name ?? '')} ${set.Type}`;
      const staleness = stale.get(key);
      if (change.Action !== 'DELETE' || set === undefined || staleness === undefined) {
        out.push(change);
        continue;
      }
      if (staleness === 'gone') continue;
      const current = await this.current(canonicalName(set.Name ?? ''), set.Type as PublishedType);
      if (current !== undefined) out.push({ Action: 'DELETE', ResourceRecordSet: current });
    }
    return out;
  }

  /** The set of `name` and `type` as Route 53 holds it, or undefined when there is none. */
  private async current(name: string, type: PublishedType): Promise<ResourceRecordSet | undefined> {
    const answer = await this.client.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: this.settings.hostedZoneId, StartRecordName: absolute(name), StartRecordType: type, MaxItems: 1 }),
    );
    const first = answer.ResourceRecordSets?.[0];
    if (first === undefined || first.Type !== type || canonicalName(first.Name ?? '') !== name) return undefined;
    return first;
  }

  /** Any failure as a DnsProviderError: retryable for throttling, 5xx and the network; the message without secrets. */
  private refusal(error: unknown): DnsProviderError {
    if (error instanceof DnsProviderError) return error;
    if (error instanceof Route53ServiceException) {
      const status = error.$metadata.httpStatusCode;
      const retryable = RETRYABLE_CODES.has(error.name) || error.$fault === 'server' || (status !== undefined && status >= 500);
      const message = `Route 53 ${retryable ? 'could not take' : 'refused'} the change: ${error.name}${status === undefined ? '' : ` (HTTP ${status})`}: ${error.message}`;
      return new DnsProviderError(redact(message, this.secrets), retryable);
    }
    // No answer at all: a refused or dropped connection, a timeout, DNS resolution of the endpoint.
    const code = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.name) : 'error';
    const detail = error instanceof Error ? error.message : String(error);
    return new DnsProviderError(redact(`Route 53 unreachable: ${code}: ${detail}`, this.secrets), true);
  }
}

/** An RRset as Route 53 takes it: absolute name, presentation values with Route 53's octal TXT escapes. */
function recordSet(rrset: RRset): ResourceRecordSet {
  return {
    Name: absolute(rrset.name),
    Type: rrset.type,
    TTL: rrset.ttl,
    ResourceRecords: rrset.records.map((record) => ({ Value: rdataPresentation(rrset.type, record, { escape: 'octal' }) })),
  };
}

type Staleness = 'gone' | 'changed';

const STALE_DELETE = /Tried to delete resource record set \[name='([^']*)', type='([^']*)'[^\]]*\] but (it was not found|the values provided do not match the current values)/g;

/**
 * The sets ("name TYPE") whose DELETE Route 53 refused because the set is gone or differs, and which, when those are
 * the only problems of an InvalidChangeBatch; undefined for any other error.
 */
function staleDeletes(error: unknown): Map<string, Staleness> | undefined {
  if (!(error instanceof Route53ServiceException) || error.name !== 'InvalidChangeBatch') return undefined;
  // Route 53 lists the problems as "[first, second]" in the message (and in `messages` in older answers).
  const messages = 'messages' in error && Array.isArray(error.messages) ? (error.messages as unknown[]).map(String) : [];
  const stale = new Map<string, Staleness>();
  const rest = [error.message, ...messages].join(', ').replace(STALE_DELETE, (_match, name: string, type: string, why: string) => {
    stale.set(`${canonicalName(unescapeName(name))} ${type}`, why === 'it was not found' ? 'gone' : 'changed');
    return '';
  });
  // Anything left but the list's brackets and commas is another problem, which no re-read can fix.
  return stale.size === 0 || /[^\s[\],]/.test(rest) ? undefined : stale;
}

/** Route 53 writes characters outside [a-z0-9-] of a name as \ooo octal escapes (e.g. * as \052). */
function unescapeName(name: string): string {
  return name.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}
