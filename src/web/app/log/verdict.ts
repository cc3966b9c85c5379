// A check's outcome as a green or red box. A check throws the SDK's LogCheckFailure when what the server sent does
// not prove what it should; any other error (a Connect error, the network) is no evidence against the log and goes
// to the error state.
import { LogCheckFailure } from '../../../sdk/browser.ts';
import { h } from '../dom.ts';

/** Runs `check`: its message in a green box, a LogCheckFailure's reason in a red one; rethrows anything else. */
export async function verdict(check: () => Promise<string>): Promise<HTMLElement> {
  try {
    return resultBox(true, await check());
  } catch (error) {
    if (error instanceof LogCheckFailure) return resultBox(false, error.message);
    throw error;
  }
}

function resultBox(ok: boolean, message: string): HTMLElement {
  return h('p', { class: `result ${ok ? 'ok' : 'bad'}`, role: ok ? 'status' : 'alert' }, h('strong', {}, ok ? 'Verified: ' : 'Failed: '), message);
}
