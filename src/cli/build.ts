// Bundles the `atr` executable (dist/cli/atr.js, the package's bin) so a command starts in a fraction of a second:
// the CLI, the SDK, the generated messages and the Connect and Protobuf runtimes are read from a few files instead of
// ~200 modules, which Node 20 resolves and compiles one by one. Everything else — the server, the database, the CA,
// the log, other packages — stays outside the bundle and is imported from dist/src and node_modules as it is, only
// by the commands that need it. `npm run build` runs this after tsc (the external imports point into dist/src).
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plugin, build } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));
const outdir = join(root, 'dist', 'cli');

/** What the bundle holds: our client side, and the packages it calls the registry with. */
const BUNDLED_SOURCES = [join(root, 'src', 'cli'), join(root, 'src', 'sdk'), join(root, 'gen')];
const BUNDLED_PACKAGES = /^@(connectrpc|bufbuild)\//;

/**
 * Our modules outside the client side become imports of their compiled copies in dist/src, written relative to the
 * bundle's directory; other packages stay imports by name.
 */
const outsideTheBundle: Plugin = {
  name: 'outside-the-bundle',
  setup(build) {
    build.onResolve({ filter: /.*/ }, ({ path, importer, kind }) => {
      if (kind === 'entry-point') return undefined;
      if (!path.startsWith('.')) return BUNDLED_PACKAGES.test(path) ? undefined : { path, external: true };
      const target = join(dirname(importer), path);
      if (!importer.startsWith(join(root, 'src')) || BUNDLED_SOURCES.some((dir) => target.startsWith(dir + sep))) return undefined;
      const compiled = join(root, 'dist', relative(root, target)).replace(/\.ts$/, '.js');
      return { path: `./${relative(outdir, compiled).split(sep).join('/')}`, external: true };
    });
  },
};

export async function buildCli(): Promise<void> {
  await build({
    entryPoints: { atr: join(root, 'src', 'cli', 'bin.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir,
    chunkNames: '[name]-[hash]',
    sourcemap: 'linked',
    plugins: [outsideTheBundle],
    logLevel: 'warning',
  });
}

// node --import tsx src/cli/build.ts
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await buildCli();
