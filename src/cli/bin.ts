#!/usr/bin/env node
// The `atr` executable. npm links it from dist/src/cli/bin.js, compiled by `npm run build`.
import { main } from './main.ts';

// `atr agents list | head` closes the pipe early; the reader has what it wanted, so that is no error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await main(process.argv.slice(2));
