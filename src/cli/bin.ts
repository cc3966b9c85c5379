#!/usr/bin/env node
// The `atr` executable: registers tsx so the TypeScript sources run as they are, then hands over to main.ts.
import { register } from 'tsx/esm/api';

// `atr agents list | head` closes the pipe early; the reader has what it wanted, so that is no error.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
