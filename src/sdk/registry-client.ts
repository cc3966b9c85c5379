// The registry's typed clients over any Connect transport: shared by the Node entry (connect-node transports)
// and the browser entry (connect-web transports). No `node:` import.
import { type Client, type Transport, createClient } from '@connectrpc/connect';
import { ApiKeyService } from '../../gen/atr/v1/api_key_pb.js';
import { DomainService } from '../../gen/atr/v1/domain_pb.js';
import { EventService } from '../../gen/atr/v1/event_pb.js';
import { JobService } from '../../gen/atr/v1/job_pb.js';
import { OperationService } from '../../gen/atr/v1/operation_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { WebhookService } from '../../gen/atr/v1/webhook_pb.js';

/** Typed clients for the registry's services, over one transport. */
export interface RegistryClient {
  readonly registry: Client<typeof RegistryService>;
  readonly verify: Client<typeof VerifyService>;
  readonly resolve: Client<typeof ResolveService>;
  readonly log: Client<typeof TransparencyLogService>;
  readonly keys: Client<typeof ApiKeyService>;
  readonly domains: Client<typeof DomainService>;
  /** The event feed: WatchAgents (a stream) and ListEvents (pages by cursor). */
  readonly events: Client<typeof EventService>;
  /** Background jobs, for admins: ListJobs, GetJob, RetryJob. */
  readonly jobs: Client<typeof JobService>;
  /** An owner's webhooks: create (the secret is shown once), list, delete, test, and the delivery log. */
  readonly webhooks: Client<typeof WebhookService>;
  /** Registrations and rotations accepted to finish in the background: GetOperation, WatchOperation (a stream). */
  readonly operations: Client<typeof OperationService>;
}

/** The registry's clients over a transport of the caller's making (its own interceptors, TLS, ...). */
export function registryClientOver(transport: Transport): RegistryClient {
  return {
    registry: createClient(RegistryService, transport),
    verify: createClient(VerifyService, transport),
    resolve: createClient(ResolveService, transport),
    log: createClient(TransparencyLogService, transport),
    keys: createClient(ApiKeyService, transport),
    domains: createClient(DomainService, transport),
    events: createClient(EventService, transport),
    jobs: createClient(JobService, transport),
    webhooks: createClient(WebhookService, transport),
    operations: createClient(OperationService, transport),
  };
}
