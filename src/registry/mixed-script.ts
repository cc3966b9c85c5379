import { type Script, scriptExtensions } from './unicode-scripts.ts';

// UTS #39 mixed-script detection (§5.1) and the Highly Restrictive level (§5.2): "pаypal" with a Cyrillic а is
// refused because no one script writes all of it, while Japanese, which mixes Han, Hiragana, Katakana and Latin
// as a matter of course, is not.

/** The writing systems that combine several scripts, which UTS #39 adds to the script sets of their characters. */
type WritingSystem = 'Han_with_Bopomofo' | 'Japanese' | 'Korean';
type AugmentedScript = Script | WritingSystem;

const WRITING_SYSTEMS: Partial<Readonly<Record<Script, readonly WritingSystem[]>>> = {
  Han: ['Han_with_Bopomofo', 'Japanese', 'Korean'],
  Hiragana: ['Japanese'],
  Katakana: ['Japanese'],
  Hangul: ['Korean'],
  Bopomofo: ['Han_with_Bopomofo'],
};

/** Highly Restrictive admits, besides single-script text, Latin mixed with one CJK writing system. */
const HIGHLY_RESTRICTIVE_COVERS: readonly (readonly AugmentedScript[])[] = [
  ['Latin', 'Japanese'],
  ['Latin', 'Han_with_Bopomofo'],
  ['Latin', 'Korean'],
];

/**
 * The scripts a piece of text mixes, in order of appearance ("Latin", "Cyrillic"), when UTS #39 finds it neither
 * single-script nor Highly Restrictive; undefined when the text passes.
 */
export function confusableScriptMix(text: string): readonly string[] | undefined {
  const characters = [...text].map(scriptExtensions).filter((scripts) => scripts !== 'any');
  const sets = characters.map(augmented);
  if (isSingleScript(sets) || isHighlyRestrictive(sets)) return undefined;
  return namedScripts(characters).map((script) => script.replaceAll('_', ' '));
}

/** One script per character not written in a script already named: enough to show which scripts collide. */
function namedScripts(characters: readonly (readonly Script[])[]): string[] {
  const named = new Set<string>();
  for (const scripts of characters) {
    if (!scripts.some((script) => named.has(script))) named.add(scripts[0] ?? 'Unknown');
  }
  return [...named];
}

/** Whether one script writes every character (always so when all are Common or Inherited). */
function isSingleScript(sets: readonly ReadonlySet<AugmentedScript>[]): boolean {
  const [first, ...rest] = sets;
  return first === undefined || [...first].some((script) => rest.every((set) => set.has(script)));
}

/** Whether every character shares a script with one of the covers Highly Restrictive allows. */
function isHighlyRestrictive(sets: readonly ReadonlySet<AugmentedScript>[]): boolean {
  return HIGHLY_RESTRICTIVE_COVERS.some((cover) => sets.every((set) => cover.some((script) => set.has(script))));
}

function augmented(scripts: readonly Script[]): ReadonlySet<AugmentedScript> {
  return new Set([...scripts, ...scripts.flatMap((script) => WRITING_SYSTEMS[script] ?? [])]);
}
