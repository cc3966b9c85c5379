import { UsageError } from './command.ts';

/**
 * One line typed on the terminal without echo (the prompt goes to stderr, so stdout stays the command's output).
 * A UsageError saying `otherwise` (how else to give it) when there is no terminal to ask on.
 */
export function readHidden(prompt: string, otherwise: string): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY !== true) return Promise.reject(new UsageError(`${otherwise} (no terminal to ask on)`));
  stdin.setRawMode(true); // before the prompt: what is typed as soon as it shows is not echoed either
  process.stderr.write(prompt);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (outcome: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      outcome();
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n' || character === '\u0004') return finish(() => resolve(typed));
        if (character === '\u0003') return finish(() => reject(new UsageError('interrupted')));
        typed = character === '\u007f' || character === '\b' ? [...typed].slice(0, -1).join('') : typed + character;
      }
    };
    stdin.on('data', onData);
  });
}
