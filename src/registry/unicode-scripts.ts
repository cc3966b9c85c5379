// The Script values ECMAScript regular expressions know, and a character's Script_Extensions computed from them:
// a regular expression can test a character against one script (\p{scx=Latin}) but cannot list its scripts, so
// the list is written here once and each script is tested in turn.

/**
 * Every Script value up to Unicode 15.1, which every Node this project supports knows: compiled at load, so a
 * misspelt name fails the first import. Common and Inherited are not scripts of their own (see scriptExtensions).
 */
const SCRIPTS = [
  'Adlam', 'Ahom', 'Anatolian_Hieroglyphs', 'Arabic', 'Armenian', 'Avestan', 'Balinese', 'Bamum', 'Bassa_Vah',
  'Batak', 'Bengali', 'Bhaiksuki', 'Bopomofo', 'Brahmi', 'Braille', 'Buginese', 'Buhid', 'Canadian_Aboriginal',
  'Carian', 'Caucasian_Albanian', 'Chakma', 'Cham', 'Cherokee', 'Chorasmian', 'Coptic', 'Cuneiform', 'Cypriot',
  'Cypro_Minoan', 'Cyrillic', 'Deseret', 'Devanagari', 'Dives_Akuru', 'Dogra', 'Duployan', 'Egyptian_Hieroglyphs',
  'Elbasan', 'Elymaic', 'Ethiopic', 'Georgian', 'Glagolitic', 'Gothic', 'Grantha', 'Greek', 'Gujarati',
  'Gunjala_Gondi', 'Gurmukhi', 'Han', 'Hangul', 'Hanifi_Rohingya', 'Hanunoo', 'Hatran', 'Hebrew', 'Hiragana',
  'Imperial_Aramaic', 'Inscriptional_Pahlavi', 'Inscriptional_Parthian', 'Javanese', 'Kaithi', 'Kannada',
  'Katakana', 'Kawi', 'Kayah_Li', 'Kharoshthi', 'Khitan_Small_Script', 'Khmer', 'Khojki', 'Khudawadi', 'Lao',
  'Latin', 'Lepcha', 'Limbu', 'Linear_A', 'Linear_B', 'Lisu', 'Lycian', 'Lydian', 'Mahajani', 'Makasar',
  'Malayalam', 'Mandaic', 'Manichaean', 'Marchen', 'Masaram_Gondi', 'Medefaidrin', 'Meetei_Mayek',
  'Mende_Kikakui', 'Meroitic_Cursive', 'Meroitic_Hieroglyphs', 'Miao', 'Modi', 'Mongolian', 'Mro', 'Multani',
  'Myanmar', 'Nabataean', 'Nag_Mundari', 'Nandinagari', 'New_Tai_Lue', 'Newa', 'Nko', 'Nushu',
  'Nyiakeng_Puachue_Hmong', 'Ogham', 'Ol_Chiki', 'Old_Hungarian', 'Old_Italic', 'Old_North_Arabian',
  'Old_Permic', 'Old_Persian', 'Old_Sogdian', 'Old_South_Arabian', 'Old_Turkic', 'Old_Uyghur', 'Oriya', 'Osage',
  'Osmanya', 'Pahawh_Hmong', 'Palmyrene', 'Pau_Cin_Hau', 'Phags_Pa', 'Phoenician', 'Psalter_Pahlavi', 'Rejang',
  'Runic', 'Samaritan', 'Saurashtra', 'Sharada', 'Shavian', 'Siddham', 'SignWriting', 'Sinhala', 'Sogdian',
  'Sora_Sompeng', 'Soyombo', 'Sundanese', 'Syloti_Nagri', 'Syriac', 'Tagalog', 'Tagbanwa', 'Tai_Le', 'Tai_Tham',
  'Tai_Viet', 'Takri', 'Tamil', 'Tangsa', 'Tangut', 'Telugu', 'Thaana', 'Thai', 'Tibetan', 'Tifinagh', 'Tirhuta',
  'Toto', 'Ugaritic', 'Vai', 'Vithkuqi', 'Wancho', 'Warang_Citi', 'Yezidi', 'Yi', 'Zanabazar_Square',
] as const;

/**
 * Scripts added since, by the Unicode version that added them. Used where the engine knows them and skipped where
 * it does not: an engine that does not know a script does not know its characters either.
 */
export const NEWER_SCRIPTS = {
  '16.0': ['Garay', 'Gurung_Khema', 'Kirat_Rai', 'Ol_Onal', 'Sunuwar', 'Todhri', 'Tulu_Tigalari'],
  '17.0': ['Beria_Erfe', 'Sidetic', 'Tai_Yo', 'Tolong_Siki'],
} as const;

export type Script = (typeof SCRIPTS)[number] | (typeof NEWER_SCRIPTS)[keyof typeof NEWER_SCRIPTS][number];

/** The scripts this engine's regular expressions know, each with the pattern that tests a character for it. */
export const KNOWN_SCRIPTS: ReadonlyMap<Script, RegExp> = new Map([
  ...SCRIPTS.map((script) => [script, scriptPattern(script)] as const),
  ...Object.values(NEWER_SCRIPTS)
    .flat()
    .flatMap((script) => (isKnownScript(script) ? [[script, scriptPattern(script)] as const] : [])),
]);

// Common (digits, punctuation) and Inherited (combining marks) characters go with any script (UTS #39 §5.1).
const ANY_SCRIPT = /^[\p{scx=Common}\p{scx=Inherited}]$/u;

/** A character's Script_Extensions, or 'any' for a Common or Inherited character; empty when no known script has it. */
export function scriptExtensions(character: string): readonly Script[] | 'any' {
  if (ANY_SCRIPT.test(character)) return 'any';
  const scripts: Script[] = [];
  for (const [script, pattern] of KNOWN_SCRIPTS) if (pattern.test(character)) scripts.push(script);
  return scripts;
}

/** Whether this engine's regular expressions know the script value. */
export function isKnownScript(script: string): boolean {
  try {
    scriptPattern(script);
    return true;
  } catch {
    return false;
  }
}

function scriptPattern(script: string): RegExp {
  return new RegExp(`^\\p{scx=${script}}$`, 'u');
}
