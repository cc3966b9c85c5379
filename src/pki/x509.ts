// @peculiar/x509 resolves its algorithms through tsyringe, which refuses to load without the Reflect metadata
// polyfill. Importing the library through this module guarantees the polyfill is evaluated first.
import 'reflect-metadata';

export * from '@peculiar/x509';
