#!/usr/bin/env node
// Writes public/datasets/sample.jsonl: a few hundred short stories, all about a little robot
// named Bob who loves the moon, each ending with the same sentence. The demo model (stories260K,
// trained on TinyStories, 512-piece vocab) writes about Lily and Tim; after fine-tuning on these
// its stories visibly turn to Bob, the moon and the fixed ending. Simple words only, every story
// well under 200 tokens. Deterministic: a seeded PRNG, no dates, no randomness from the system.
//
//   node scripts/make-sample-dataset.mjs [output path]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const STORY_COUNT = 300;
export const ENDING = 'And the moon smiled at Bob.';

/** mulberry32 (same as src/data/prng.ts): integer-only, so the output is the same everywhere. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const FRIENDS = ['Lily', 'Tim', 'Sue', 'Ben', 'Mia', 'Max', 'Anna', 'Tom', 'Sam', 'Lucy', 'Jack', 'Emma'];
const PETS = ['a small cat', 'a happy dog', 'a little bird', 'a soft bunny', 'a tiny frog', 'a big bear'];
const LOVES = [
  'Bob loved the moon very much.',
  'Bob loved to look at the big, round moon.',
  'Every night, Bob looked up at the moon.',
  'Bob liked the moon more than anything.',
];
const MEETS = [
  (f) => `One day, ${f} came to play with Bob.`,
  (f) => `One day, Bob met a girl named ${f}.`,
  (f) => `One day, Bob met a boy named ${f}.`,
  (f) => `One sunny day, ${f} and Bob went to the park.`,
];
const PLAYS = [
  'They played with a big red ball.',
  'They ran and jumped in the grass.',
  'They built a tall tower with blocks.',
  'They had a picnic under a big tree.',
  'They danced in the garden.',
  'They looked for shells by the sea.',
  'They made a cake with mom.',
  'They flew a blue kite in the wind.',
];
const ASKS = [
  (f) => `${f} asked, "Bob, why do you love the moon?"`,
  (f) => `${f} said, "Bob, the moon is so far away."`,
  (f) => `${f} asked, "Can the moon be my friend too?"`,
];
const ANSWERS = [
  'Bob said, "The moon is my friend. It shines on me at night."',
  'Bob said, "The moon is kind. It is always there for me."',
  'Bob said, "The moon makes me happy."',
  'Bob said, "The moon keeps me safe at night."',
];
const EXTRAS = [
  (p) => `On the way, they saw ${p}.`,
  (p) => `Then ${p} came to play with them.`,
  (p) => `They shared their snack with ${p}.`,
];
const NIGHTS = [
  'At night, the moon came up, big and bright.',
  'At night, they sat on the hill and looked at the moon.',
  'Soon it was night, and the moon was full and round.',
];

function pick(next, list) {
  return list[next() % list.length];
}

/** The stories, in order; the same list on every run. */
export function makeSampleStories(count = STORY_COUNT, seed = 2024) {
  const next = mulberry32(seed);
  const seen = new Set();
  const stories = [];
  while (stories.length < count) {
    const friend = pick(next, FRIENDS);
    const parts = [
      'Once upon a time, there was a little robot named Bob.',
      pick(next, LOVES),
      pick(next, MEETS)(friend),
      pick(next, PLAYS),
    ];
    // Half the stories get one more scene, so lengths vary (all stay well under 200 tokens).
    if (next() % 2 === 0) parts.push(pick(next, EXTRAS)(pick(next, PETS)));
    else parts.push(pick(next, NIGHTS));
    parts.push(pick(next, ASKS)(friend), pick(next, ANSWERS), ENDING);
    const text = parts.join(' ');
    if (seen.has(text)) continue;
    seen.add(text);
    stories.push(text);
  }
  return stories;
}

function main() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const out = resolve(process.argv[2] ?? `${root}/public/datasets/sample.jsonl`);
  const lines = makeSampleStories().map((text) => JSON.stringify({ text }));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, lines.join('\n') + '\n');
  console.log(`wrote ${lines.length} stories to ${out}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
