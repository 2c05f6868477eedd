// Conversations for template tests and test datasets.
import type { ChatMessage } from '../types';

/** A system message, three answers, non-ASCII text (accents, CJK, emoji), and an answer with whitespace around it. */
export const CHAT: ChatMessage[] = [
  { role: 'system', content: 'Tu es un assistant précis. 日本語もOK.' },
  { role: 'user', content: 'Quelle est la capitale de la France ?' },
  { role: 'assistant', content: 'Paris — la « Ville Lumière ». 🗼' },
  { role: 'user', content: '¿Y de España?' },
  { role: 'assistant', content: ' Madrid, señor.\n' },
  { role: 'user', content: 'Und Deutschland? 答えて' },
  { role: 'assistant', content: 'Berlin. ベルリン' },
];
