import { ListAuditEventsResponseSchema, RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { type Invocation, integerOption, stringOption } from './command.ts';
import { time } from './output.ts';

export async function audit({ values, client, out }: Invocation): Promise<number> {
  const response = await client(RegistryService).listAuditEvents({
    agentName: stringOption(values, 'agent') ?? '',
    eventType: stringOption(values, 'event-type') ?? '',
    limit: integerOption(values, 'limit') ?? 0,
    offset: integerOption(values, 'offset') ?? 0,
  });
  if (out.json) {
    out.message(ListAuditEventsResponseSchema, response);
    return 0;
  }
  if (response.events.length === 0) {
    out.line('no audit events');
    return 0;
  }
  out.table(
    ['ID', 'TIME', 'EVENT', 'AGENT', 'ACTOR', 'DETAILS'],
    response.events.map((event) => [
      String(event.id),
      time(event.timestamp) ?? '',
      event.eventType,
      event.agentName,
      event.actor,
      event.metadata === undefined || Object.keys(event.metadata).length === 0 ? '' : JSON.stringify(event.metadata),
    ]),
  );
  out.pageFooter(response, response.events.length);
  return 0;
}

