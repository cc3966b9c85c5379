import type { ConnectRouter } from '@connectrpc/connect';
import type { DescService } from '@bufbuild/protobuf';
import { ApiKeyService } from '../../gen/atr/v1/api_key_pb.js';
import { DomainService } from '../../gen/atr/v1/domain_pb.js';
import { JobService } from '../../gen/atr/v1/job_pb.js';
import { EventService } from '../../gen/atr/v1/event_pb.js';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { ResolveService } from '../../gen/atr/v1/resolve_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { WebhookService } from '../../gen/atr/v1/webhook_pb.js';
import { ApiKeyServiceImpl } from '../services/api-key-service.ts';
import { JobServiceImpl } from '../services/job-service.ts';
import { DomainServiceImpl } from '../services/domain-service.ts';
import { EventServiceImpl } from '../services/event-service.ts';
import { RegistryServiceImpl } from '../services/registry-service.ts';
import { ResolveServiceImpl } from '../services/resolve-service.ts';
import { TransparencyLogServiceImpl } from '../services/transparency-log-service.ts';
import { VerifyServiceImpl } from '../services/verify-service.ts';
import { WebhookServiceImpl } from '../services/webhook-service.ts';
import { OperationServiceImpl } from '../services/operation-service.ts';
import { OperationService } from '../../gen/atr/v1/operation_pb.js';
import type { App } from './app.ts';
import { withDomainStanding } from './domain-validation.ts';

/** The registry's own services, served on every transport. Health and reflection are added by the HTTP handler. */
export const apiServices: DescService[] = [
  RegistryService,
  VerifyService,
  ResolveService,
  TransparencyLogService,
  ApiKeyService,
  DomainService,
  EventService,
  OperationService,
  JobService,
  WebhookService,
];

/** The whole API surface in one place. */
export function routes(app: App) {
  return (router: ConnectRouter): void => {
    router.service(RegistryService, new RegistryServiceImpl(app.registry, app.ca, { standing: withDomainStanding(app.dns?.standing, app.domainValidation), records: app.dns?.records }, app.config.asyncProcessingEnabled));
    router.service(OperationService, new OperationServiceImpl(app.registry, app.ca));
    router.service(VerifyService, new VerifyServiceImpl(app.verifier, app.ca, app.revocationList, app.tokenVerifier, app.revocations));
    router.service(ResolveService, new ResolveServiceImpl(app.registry, app.ca, app.dnsResolution));
    router.service(TransparencyLogService, new TransparencyLogServiceImpl(app.log));
    router.service(ApiKeyService, new ApiKeyServiceImpl(app.apiKeys, { keysRequired: app.config.apiKeyEnabled, publicReads: app.config.publicReads }));
    router.service(DomainService, new DomainServiceImpl(app.domainValidation.domains));
    router.service(EventService, new EventServiceImpl(app.events));
    router.service(JobService, new JobServiceImpl(app.jobs.queue));
    router.service(WebhookService, new WebhookServiceImpl(app.webhooks.webhooks));
  };
}
