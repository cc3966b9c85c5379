import { loadConfig } from '../config/load.ts';
import { openApiDocument } from '../server/openapi.ts';
import { apiServices } from '../server/routes.ts';
import type { Command } from './command.ts';

// Built here from the same descriptors the server serves it from, so it needs no running registry; the API key
// header comes from the same settings (API_KEY_HEADER) the server reads.
const openapi: Command = {
  name: 'openapi',
  synopsis: '',
  summary: 'print the OpenAPI 3.1 document of the REST API (as GET /openapi.json serves it), for --server',
  options: {},
  arity: 0,
  async run({ server, out }) {
    const document = openApiDocument({ services: apiServices, serverUrl: server, apiKeyHeader: loadConfig().apiKeyHeader });
    out.line(JSON.stringify(document, null, 2));
    return 0;
  },
};

export const openApiCommands: readonly Command[] = [openapi];
