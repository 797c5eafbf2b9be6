/**
 * Returns the candidate nearest to `word` by edit distance, or undefined when
 * none is a likely typo. A typo is at most a third of the word's length away
 * (at least 1 edit), or contains the word, or is contained in it.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;

  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }

  const limit = Math.max(1, Math.floor(lower.length / 3));
  if (best !== undefined && bestDistance <= limit) return best;

  if (lower.length < 3) return undefined;
  return candidates.find((candidate) => candidate.includes(lower) || lower.includes(candidate));
}

/** Levenshtein distance between two strings. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);

  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      const deletion = (previous[j] ?? 0) + 1;
      const insertion = (current[j - 1] ?? 0) + 1;
      current.push(Math.min(substitution, deletion, insertion));
    }
    previous = current;
  }

  return previous[b.length] ?? 0;
}
