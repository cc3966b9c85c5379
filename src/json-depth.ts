// How deep JSON may nest wherever the registry reads it: REST and Connect JSON bodies, token headers and claims.
// Nothing the API takes needs more than a few levels; deeper input only spends stack in the recursive converters
// (protobuf-es fromJson/Struct) that run after JSON.parse.

export const MAX_JSON_DEPTH = 32;

/** The deepest bracket nesting outside strings; a linear scan, so it is safe to run before parsing. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return deepest;
}
