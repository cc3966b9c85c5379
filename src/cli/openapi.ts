import { loadConfig } from '../config/load.ts';
import { openApiDocument } from '../server/openapi.ts';
import { apiServices } from '../server/routes.ts';
import type { Invocation } from './command.ts';

// Built here from the same descriptors the server serves it from, so it needs no running registry; the API key
// header comes from the same settings (API_KEY_HEADER) the server reads.
export async function openapi({ server, out }: Invocation): Promise<number> {
  const document = openApiDocument({ services: apiServices, serverUrl: server, apiKeyHeader: loadConfig().apiKeyHeader });
  out.line(JSON.stringify(document, null, 2));
  return 0;
}

