// One process of the bootstrap race (test/auth/bootstrap.test.ts): opens DATABASE_URL, says "ready", waits for a line
// on stdin so that every racer asks at the same moment, then asks for the bootstrap key and prints the key id it
// made, or "none".
import { once } from 'node:events';
import { ApiKeys } from '../../src/auth/api-keys.ts';
import { SqlApiKeyStore } from '../../src/db/api-key-store.ts';
import { openDatabase } from '../../src/db/orm.ts';

const database = await openDatabase(process.env['DATABASE_URL'] ?? '');
try {
  process.stdout.write('ready\n');
  await once(process.stdin, 'data');
  process.stdin.destroy();
  const created = await new ApiKeys(new SqlApiKeyStore(database)).bootstrap();
  process.stdout.write(`${created?.record.keyId ?? 'none'}\n`);
} finally {
  await database.close();
}
