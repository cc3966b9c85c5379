import { leafHash } from './hash.ts';
import { encodeLeaf, type LogEvent } from './leaf.ts';
import type { NewLogEntry } from './store.ts';

/** The entry to sequence for an event: its canonical encoding, leaf hash, and the columns it is listed by. */
export function newLogEntry(event: LogEvent): NewLogEntry {
  const data = encodeLeaf(event);
  return { data, leafHash: leafHash(data), agentName: event.agent_name, eventType: event.event_type };
}
