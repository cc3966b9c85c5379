import { ListAuditEventsResponseSchema } from '../../gen/atr/v1/registry_pb.js';
import { type Command, integerOption, stringOption } from './command.ts';
import { time } from './output.ts';

const audit: Command = {
  name: 'audit',
  synopsis: '[--agent NAME] [--event-type T] [--limit N] [--offset N]',
  summary: 'list audit events (agent.registered, agent.rotated, agent.revoked, agent.updated, cert.verified)',
  options: {
    agent: { type: 'string' },
    'event-type': { type: 'string' },
    limit: { type: 'string' },
    offset: { type: 'string' },
  },
  arity: 0,
  async run({ values, clients, out }) {
    const response = await clients().registry.listAuditEvents({
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
  },
};

export const auditCommands: readonly Command[] = [audit];
