import { type Child, h } from '../dom.ts';

/** A term and its description for a dl.facts; left out when there is nothing to describe. */
export function fact(term: string, description: Child): Child {
  return description === '' || description === undefined ? undefined : [h('dt', {}, term), h('dd', {}, description)];
}
